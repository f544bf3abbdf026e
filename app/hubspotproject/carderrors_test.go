package hubspotproject_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"linehub/app/web/hubspotapp"
)

// Every code linehub's card answers may carry has words in both of the
// card's languages: a code without them would show the generic "linehub
// refused the request" instead of what to do.
func TestCardTranslatesEveryErrorCode(t *testing.T) {
	src, err := os.ReadFile(cardDir + "/LineCard.jsx")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile(`(?s)\n    errors: \{\n(.*?)\n    \},\n`).FindAllStringSubmatch(string(src), -1)
	if len(blocks) != 2 {
		t.Fatalf("want the errors of en and ja in LineCard.jsx, found %d blocks", len(blocks))
	}
	for i, b := range blocks {
		for _, code := range hubspotapp.CardCodes {
			if !strings.Contains("\n"+b[1], "\n      "+code+":") {
				t.Errorf("language %d of the card has no words for code %q", i, code)
			}
		}
	}
}
