package ui

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/text/language"

	"linehub/assets"
)

// catalog maps language → message key → text. Texts are fmt formats.
type catalog map[string]map[string]string

var languages = []language.Tag{language.English, language.Japanese}

func loadCatalog() (catalog, error) {
	cat := catalog{}
	for _, tag := range languages {
		b, err := fs.ReadFile(assets.UI, "i18n/"+tag.String()+".json")
		if err != nil {
			return nil, fmt.Errorf("message catalogue %s: %w", tag, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("message catalogue %s: %w", tag, err)
		}
		cat[tag.String()] = m
	}
	return cat, nil
}

var matcher = language.NewMatcher(languages)

// pickLang chooses the language: the cookie set by the switch, else the
// browser's Accept-Language, else English.
func pickLang(cookie, accept string) string {
	for _, tag := range languages {
		if cookie == tag.String() {
			return cookie
		}
	}
	tags, _, _ := language.ParseAcceptLanguage(accept)
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return "en"
	}
	return languages[i].String()
}

// locale renders catalogue texts for one request.
type locale struct {
	Lang string
	msgs map[string]string
	en   map[string]string
}

func (c catalog) locale(lang string) *locale {
	return &locale{Lang: lang, msgs: c[lang], en: c["en"]}
}

// T returns the text for key; a missing key shows itself so that it is
// noticed (the catalogue test makes that impossible in a release).
func (l *locale) T(key string, args ...any) string {
	s, ok := l.msgs[key]
	if !ok {
		if s, ok = l.en[key]; !ok {
			return key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Has tells whether key is a catalogue message (used for ?ok= flashes).
func (l *locale) Has(key string) bool {
	_, ok := l.en[key]
	return ok && strings.Contains(key, ".")
}
