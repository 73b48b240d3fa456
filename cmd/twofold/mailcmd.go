package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twofold-auth/twofold/internal/app"
	"github.com/twofold-auth/twofold/internal/mail"
)

// mailSent delivers the mail this command wrote, as App.FlushMail does, and says where the
// emails named (`the "New Password" email`; plural for more than one) to address went: to the
// outbox folder, or to the SMTP server, or into its queue when the server did not take them.
func mailSent(a *app.App, emails string, plural bool, address string) string {
	were, wait := "was", "waits"
	if plural {
		were, wait = "were", "wait"
	}
	switch {
	case a.Queue == nil:
		return fmt.Sprintf("%s %s sent to %s (in the outbox %s)", emails, were, address, a.Outbox)
	case a.FlushMail() > 0:
		return fmt.Sprintf("%s to %s %s in the queue for %s: a running server delivers it, or `twofold mail deliver`",
			emails, address, wait, a.Queue.Transport())
	default:
		return fmt.Sprintf("%s %s sent to %s through %s", emails, were, address, a.Queue.Transport())
	}
}

func mailCommand(ctx context.Context, sub string, args []string, stdout io.Writer, log *slog.Logger) error {
	f := newFlags("mail " + sub)
	var asJSON *bool
	switch sub {
	case "status":
		asJSON = f.boolean("json", "print JSON")
	case "deliver":
	default:
		return usageError{fmt.Sprintf("unknown command mail %s", sub)}
	}
	if _, err := f.parse(args); err != nil {
		return err
	}
	c := f.common
	if sub == "deliver" {
		if !app.IsSMTP(c.mail) {
			return usageError{"mail deliver: give --mail smtp://... (or TWOFOLD_MAIL): in outbox mode the outbox is the delivery"}
		}
		q, err := app.OpenQueue(c.data, c.mail, c.mailFrom, log)
		if err != nil {
			return err
		}
		delivered, waiting := q.DeliverAll(ctx)
		fmt.Fprintf(stdout, "Delivered %d message(s); %d wait.\n", delivered, waiting)
		if waiting > 0 {
			return errors.New("some mail could not be delivered: see `twofold mail status` for the errors")
		}
		return nil
	}
	st, err := mail.ReadStatus(app.QueueDir(c.data))
	if err != nil {
		return err
	}
	delivery := "outbox: messages are written as files to " + filepath.Join(c.data, "outbox")
	if app.IsSMTP(c.mail) {
		tr, err := mail.ParseSMTPURL(c.mail)
		if err != nil {
			return fmt.Errorf("--mail: %w", err)
		}
		delivery = tr.String()
	}
	if *asJSON {
		waiting := make([]map[string]any, len(st.Waiting))
		for i, w := range st.Waiting {
			waiting[i] = map[string]any{"file": w.Name, "message_id": w.MessageID, "to": w.To, "subject": w.Subject,
				"queued": w.Queued.UTC(), "sending": w.Sending, "attempts": w.Attempts, "last_error": w.LastError,
				"last_try": timeOrNil(w.LastTry), "next_try": timeOrNil(w.NextTry)}
		}
		out := map[string]any{"delivery": delivery, "count": len(st.Waiting), "waiting": waiting,
			"oldest": nil, "sent": st.Sent, "last_sent": timeOrNil(st.LastSent)}
		if len(st.Waiting) > 0 {
			out["oldest"] = st.Waiting[0].Queued.UTC()
		}
		return printJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "Delivery: %s\n", delivery)
	if len(st.Waiting) == 0 {
		fmt.Fprintln(stdout, "Waiting: none")
	} else {
		oldest := st.Waiting[0].Queued
		fmt.Fprintf(stdout, "Waiting: %d (oldest queued %s, %s ago)\n", len(st.Waiting),
			oldest.UTC().Format(time.RFC3339), time.Since(oldest).Round(time.Second))
		if !app.IsSMTP(c.mail) {
			fmt.Fprintln(stdout, "These wait for SMTP delivery; run with --mail smtp://... to deliver them.")
		}
	}
	if st.Sent > 0 {
		fmt.Fprintf(stdout, "Delivered: %d (last %s)\n", st.Sent, st.LastSent.UTC().Format(time.RFC3339))
	}
	if len(st.Waiting) == 0 {
		return nil
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUED\tTO\tSUBJECT\tATTEMPTS\tNEXT TRY\tLAST ERROR")
	for _, w := range st.Waiting {
		next := "now"
		switch {
		case w.Sending:
			next = "sending"
		case !w.NextTry.IsZero():
			next = w.NextTry.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", w.Queued.UTC().Format(time.RFC3339), shown(strings.Join(w.To, ", ")),
			shown(w.Subject), w.Attempts, next, shown(w.LastError))
	}
	return tw.Flush()
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}
