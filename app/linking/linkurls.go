package linking

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/store"
)

// Writing link URLs: for the contacts of a HubSpot list the admin picks,
// the connection's "LINE Link URL _ N" property gets the contact's own
// signed link, which a marketing email uses as a personalization token.
// The list is read a page (up to 250 ids) at a time and written in
// batches of 100 through the client's shared request budget; the job's
// cursor is stored after each page, so a restart resumes at the page it
// was on (writing a page again only sets the same kind of value).

// StartLinkURLs starts writing link URLs to the contacts of a list.
func (s *Service) StartLinkURLs(ctx context.Context, connID int64, listID, listName string) (*store.LinkURLJob, error) {
	listID = strings.TrimSpace(listID)
	if _, err := strconv.ParseUint(listID, 10, 64); err != nil {
		return nil, fmt.Errorf("%w: pick a HubSpot list", ErrBadRequest)
	}
	ls, err := s.st.LinkSettingsOf(ctx, connID)
	if err != nil {
		return nil, err
	}
	if !ls.Enabled {
		return nil, ErrLinkingOff
	}
	if strings.TrimRight(s.cfg.EffectivePublicURL(), "/") == "" {
		return nil, errors.New("linehub has no public URL: set it in Settings first")
	}
	j := &store.LinkURLJob{ConnectionID: connID, ListID: listID, ListName: listName}
	if err := s.st.StartLinkURLJob(ctx, j); err != nil {
		return nil, err
	}
	s.log.Info("writing link URLs to the contacts of a list", "connection", connID, "list", listID, "job", j.ID)
	select {
	case s.jobWake <- struct{}{}:
	default:
	}
	return j, nil
}

// CancelLinkURLs stops a connection's running job after its current page.
func (s *Service) CancelLinkURLs(ctx context.Context, connID int64) error {
	j, err := s.st.LastLinkURLJob(ctx, connID)
	if err != nil || j == nil || j.State != store.LinkJobRunning {
		return err
	}
	j.State = store.LinkJobCancelled
	return s.st.SaveLinkURLJob(ctx, j)
}

// LastLinkURLJob is a connection's newest job, for its progress.
func (s *Service) LastLinkURLJob(ctx context.Context, connID int64) (*store.LinkURLJob, error) {
	return s.st.LastLinkURLJob(ctx, connID)
}

// SearchLists finds the portal's contact lists by name.
func (s *Service) SearchLists(ctx context.Context, q string) ([]hubspot.List, error) {
	lists, _, _, err := s.hs.SearchLists(ctx, q, 0, 50)
	return lists, err
}

func (s *Service) runLinkURLJobs(ctx context.Context) {
	jobs, err := s.st.RunningLinkURLJobs(ctx)
	if err != nil {
		s.log.Warn("read link URL jobs", "err", err)
		return
	}
	for i := range jobs {
		if err := s.runLinkURLJob(ctx, &jobs[i]); err != nil {
			s.log.Warn("write link URLs", "job", jobs[i].ID, "err", err)
		}
	}
}

// runLinkURLJob runs a job to its end, or until HubSpot stops answering
// (then the next pass resumes it from its stored cursor).
func (s *Service) runLinkURLJob(ctx context.Context, j *store.LinkURLJob) error {
	c, err := s.st.Connection(ctx, j.ConnectionID)
	if err != nil {
		j.State, j.Error = store.LinkJobFailed, "the LINE account was deleted"
		return errors.Join(err, s.st.SaveLinkURLJob(ctx, j))
	}
	ls, err := s.Settings(ctx, j.ConnectionID)
	if err != nil {
		return err
	}
	key, err := s.st.LinkTokenKey(ctx)
	if err != nil {
		return err
	}
	prop := contactsync.PropertyName(contactsync.PropLinkURL, c.Serial)
	for ctx.Err() == nil {
		ids, next, err := s.hs.ListMembers(ctx, j.ListID, j.After)
		if err != nil {
			return s.jobError(ctx, j, err)
		}
		expires := s.now().Add(time.Duration(ls.ExpiryDays) * 24 * time.Hour)
		inputs := make([]hubspot.ContactInput, 0, len(ids))
		for _, id := range ids {
			u, err := s.linkURL(key, j.ConnectionID, id, expires)
			if err != nil {
				j.Failed++
				continue
			}
			inputs = append(inputs, hubspot.ContactInput{Ref: id, ID: id, Properties: map[string]string{prop: u}})
		}
		if len(inputs) > 0 {
			res, err := s.hs.BatchUpdateContacts(ctx, inputs)
			if err != nil {
				return s.jobError(ctx, j, err)
			}
			j.Written += len(res.Contacts)
			j.Failed += len(inputs) - len(res.Contacts)
		}
		j.After = next
		if next == "" {
			j.State = store.LinkJobDone
		}
		if err := s.st.SaveLinkURLJob(context.WithoutCancel(ctx), j); errors.Is(err, store.ErrNotFound) {
			return nil // cancelled meanwhile
		} else if err != nil {
			return err
		}
		if next == "" {
			s.log.Info("link URLs written", "job", j.ID, "list", j.ListID, "written", j.Written, "failed", j.Failed)
			return nil
		}
	}
	return ctx.Err()
}

// jobError keeps a job running through an outage (the next pass resumes
// it) and fails it when HubSpot refuses (a list that does not exist).
func (s *Service) jobError(ctx context.Context, j *store.LinkURLJob, err error) error {
	j.Error = err.Error()
	if !retryable(err) {
		j.State = store.LinkJobFailed
	}
	return errors.Join(err, s.st.SaveLinkURLJob(context.WithoutCancel(ctx), j))
}
