package linkpage

import (
	"context"
	"errors"
	"fmt"

	"linehub/app/linking"
)

// FromLinking is the Linker the appliance runs with: app/linking's
// service, its refusals named as this package's pages word them.
func FromLinking(s *linking.Service) Linker { return linkingLinker{s} }

type linkingLinker struct{ s *linking.Service }

func (l linkingLinker) CheckToken(ctx context.Context, connID int64, token string) (string, error) {
	contactID, err := l.s.CheckToken(ctx, connID, token)
	return contactID, pageError(err)
}

func (l linkingLinker) Link(ctx context.Context, r LinkRequest) (LinkResult, error) {
	res, err := l.s.Link(ctx, linking.Request{ConnID: r.ConnID, Identity: linking.Identity(r.Identity),
		ContactID: r.ContactID, Token: r.Token, How: r.How})
	if err != nil {
		return LinkResult{}, pageError(err)
	}
	return LinkResult{ContactID: res.ContactID, Already: res.Outcome == linking.OutcomeAlready}, nil
}

// pageErrors maps linking's refusals onto the pages' (a refusal not
// listed is shown as "could not link, try again").
var pageErrors = []struct{ from, to error }{
	{linking.ErrTokenExpired, ErrTokenExpired},
	{linking.ErrTokenUsed, ErrTokenUsed},
	{linking.ErrTokenInvalid, ErrTokenInvalid}, // also linking.ErrLinkingOff
	{linking.ErrLinkedElsewhere, ErrLinkedElsewhere},
	{linking.ErrNoEmail, ErrNoEmail},
	{linking.ErrContactTaken, ErrCannotLink},
	{linking.ErrContactGone, ErrCannotLink},
	{linking.ErrEmailAmbiguous, ErrCannotLink},
}

func pageError(err error) error {
	for _, m := range pageErrors {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}
