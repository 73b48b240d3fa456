package mail

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Transport hands one message to a mail server; SMTP is the one Twofold uses.
type Transport interface {
	// Deliver answers nil only once the server accepted msg for every address in to.
	Deliver(ctx context.Context, from string, to []string, msg []byte) error
}

// Backoff is how long a message waits after its n-th failed attempt: Base doubled n-1 times,
// at most Max, of which a random part (up to half) is left out, so that messages that failed
// together do not all come back at the same moment.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
}

// DefaultBackoff retries after about 30 s, 1 min, 2 min... and at least once an hour, forever.
var DefaultBackoff = Backoff{Base: 30 * time.Second, Max: time.Hour}

// Delay answers the wait after the n-th failure (n from 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if half := d / 2; half > 0 {
		d -= rand.N(half + 1)
	}
	return d
}

// StaleClaim is how long a message may stay claimed (in sending/) before it is taken as left
// there by a process that died, and sent again. It is well above the longest delivery (SMTP's
// one-minute timeout), so that a live deliverer never loses its claim.
const StaleClaim = 5 * time.Minute

// Folders and files of a queue, under its folder.
const (
	sendingDir = "sending"
	stateDir   = "state"
	sentLog    = "sent.log"
)

// QueueConfig holds what a Queue needs.
type QueueConfig struct {
	// Dir is the queue's folder (DATA/outbox/queue): apart from the outbox of outbox mode, so
	// that switching to SMTP never mails what the outbox kept.
	Dir       string
	From      string
	Transport Transport
	// Backoff defaults to DefaultBackoff; Poll, how often the folder is read for messages that
	// other processes (commands) wrote, to 30 seconds.
	Backoff Backoff
	Poll    time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Queue is the Mailer of SMTP delivery.
//
// Send writes the message into the queue's folder exactly as Outbox does (synced, renamed, the
// folder synced), so that a message whose request was answered is never lost, then only wakes
// the deliverer: an answer never waits for the mail server. Run, started by serve, hands
// waiting messages to the Transport and retries failures with Backoff, forever; a command that
// is not a server delivers what it wrote itself with Flush before it exits, and leaves to the
// server what the mail server did not take.
//
// In the folder:
//
//	NAME.eml          a waiting message
//	sending/NAME.eml  a message being delivered: moving it there is the claim, so that two
//	                  processes on one data folder (a server and a command) never send it both
//	state/NAME.json   its attempts, last error and next try (ReadStatus shows them)
//	sent.log          one JSON line per delivered message: when, Message-ID, to, subject
//
// Once the server accepts a message its file is removed at once, then the state and the
// record follow. A process that dies between the server's acceptance and that removal leaves
// the message claimed; after StaleClaim it is sent again, with the same Message-ID, which lets
// receiving systems drop the duplicate. That window is a few milliseconds; nothing is lost in
// any crash. Bodies of delivered messages (temporary passwords) are not kept.
type Queue struct {
	outbox  *Outbox
	dir     string
	tr      Transport
	backoff Backoff
	poll    time.Duration
	now     func() time.Time
	log     *slog.Logger
	wake    chan struct{}

	mu      sync.Mutex
	mine    []string // written by this process while no Run was delivering
	running bool
	// retryAt is the next try of each message this process failed to deliver, in case its
	// state file could not be written (a full disk must not turn retries into a busy loop).
	retryAt map[string]time.Time
}

var _ Mailer = (*Queue)(nil)

// NewQueue makes the queue's folders (mode 0700: messages hold temporary passwords).
func NewQueue(c QueueConfig) (*Queue, error) {
	if c.Transport == nil {
		return nil, errors.New("mail: a queue needs a transport")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Backoff.Base <= 0 || c.Backoff.Max < c.Backoff.Base {
		c.Backoff = DefaultBackoff
	}
	if c.Poll <= 0 {
		c.Poll = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	for _, d := range []string{c.Dir, filepath.Join(c.Dir, sendingDir), filepath.Join(c.Dir, stateDir)} {
		if err := privateDir(d, c.Logger); err != nil { // the outbox's rule: its messages are no one else's
			return nil, fmt.Errorf("mail: queue: %w", err)
		}
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return nil, fmt.Errorf("mail: sender %q: %w", c.From, err)
	}
	return &Queue{outbox: &Outbox{Dir: c.Dir, From: c.From, Now: c.Now}, dir: c.Dir, tr: c.Transport,
		backoff: c.Backoff, poll: c.Poll, now: c.Now, log: c.Logger, wake: make(chan struct{}, 1),
		retryAt: map[string]time.Time{}}, nil
}

// Dir answers the queue's folder.
func (q *Queue) Dir() string { return q.dir }

// Transport answers what delivers the queue's messages.
func (q *Queue) Transport() Transport { return q.tr }

// Send writes m durably into the queue and wakes the deliverer.
func (q *Queue) Send(_ context.Context, m Message) error {
	name, err := q.outbox.write(m)
	if err != nil {
		return err
	}
	q.mu.Lock()
	if !q.running {
		q.mine = append(q.mine, name)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run delivers until ctx ends: at once when this process writes a message, when a retry falls
// due, and every Poll for messages that other processes wrote.
func (q *Queue) Run(ctx context.Context) {
	q.mu.Lock()
	q.running, q.mine = true, nil
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.running = false
		q.mu.Unlock()
	}()
	for ctx.Err() == nil {
		p := q.pass(ctx, nil)
		wait := q.poll
		if !p.next.IsZero() {
			wait = max(0, min(wait, p.next.Sub(q.now())))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-q.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Flush tries once to deliver the messages this process wrote, unless Run delivers them, and
// answers how many of them still wait (for a server to deliver).
func (q *Queue) Flush(ctx context.Context) int {
	q.mu.Lock()
	mine := q.mine
	q.mine = nil
	running := q.running
	q.mu.Unlock()
	if running || len(mine) == 0 {
		return 0
	}
	p := q.pass(ctx, mine)
	return p.failed
}

// DeliverAll tries every waiting message now, whatever its next try, and answers how many were
// delivered and how many still wait.
func (q *Queue) DeliverAll(ctx context.Context) (delivered, waiting int) {
	q.requeueStale()
	names, _ := q.waiting()
	p := q.pass(ctx, names)
	return p.delivered, p.failed
}

type passResult struct {
	delivered, failed int
	next              time.Time // the earliest next try of what still waits
}

// pass brings back stale claims, then delivers the waiting messages that are due, or, when
// only is given, those messages whatever their next try.
func (q *Queue) pass(ctx context.Context, only []string) passResult {
	var p passResult
	q.requeueStale()
	names, err := q.waiting()
	if err != nil {
		q.log.ErrorContext(ctx, "mail queue unreadable", "dir", q.dir, "err", err)
		return p
	}
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		if only != nil && !slices.Contains(only, name) {
			continue
		}
		if only == nil {
			next := q.readState(name).NextTry
			q.mu.Lock()
			if t := q.retryAt[name]; t.After(next) {
				next = t
			}
			q.mu.Unlock()
			if next.After(q.now()) {
				if p.next.IsZero() || next.Before(p.next) {
					p.next = next
				}
				continue
			}
		}
		ok, next := q.deliver(ctx, name)
		switch {
		case ok:
			p.delivered++
		case !next.IsZero():
			p.failed++
			if p.next.IsZero() || next.Before(p.next) {
				p.next = next
			}
		}
	}
	return p
}

// waiting lists the queue's waiting messages, oldest first.
func (q *Queue) waiting() ([]string, error) {
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".eml") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// deliver claims, sends and settles one message. It answers whether it was delivered, and
// when not, when it is tried next (zero when another process had claimed it).
func (q *Queue) deliver(ctx context.Context, name string) (bool, time.Time) {
	src := filepath.Join(q.dir, name)
	claimed := filepath.Join(q.dir, sendingDir, name)
	if err := os.Rename(src, claimed); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			q.log.ErrorContext(ctx, "mail not claimed", "file", name, "err", err)
		}
		return false, time.Time{}
	}
	now := q.now()
	_ = os.Chtimes(claimed, now, now) // the claim's age is its modification time
	raw, err := os.ReadFile(claimed)
	var env envelope
	if err == nil {
		env, err = parseEnvelope(raw)
	}
	if err == nil {
		err = q.tr.Deliver(ctx, env.from, env.to, raw)
	}
	if err == nil {
		// Accepted: the file goes first, so that a crash from here on never sends it again.
		if rerr := os.Remove(claimed); rerr != nil {
			q.log.ErrorContext(ctx, "mail delivered but its file stays; it may be sent again", "file", name, "err", rerr)
		}
		_ = syncDir(filepath.Join(q.dir, sendingDir))
		_ = os.Remove(q.statePath(name))
		q.record(env, now)
		q.mu.Lock()
		delete(q.retryAt, name)
		q.mu.Unlock()
		q.log.InfoContext(ctx, "mail delivered", "message_id", env.id, "subject", env.subject)
		return true, time.Time{}
	}
	st := q.readState(name)
	if ctx.Err() == nil { // a stopping server does not count against the message
		st.Attempts++
		st.LastError = clipError(err)
		st.LastTry = now
		st.NextTry = now.Add(q.backoff.Delay(st.Attempts))
		q.writeState(name, st)
		q.mu.Lock()
		q.retryAt[name] = st.NextTry
		q.mu.Unlock()
		q.log.WarnContext(ctx, "mail not delivered yet; it will be retried", "message_id", env.id,
			"attempts", st.Attempts, "next_try", st.NextTry.UTC().Format(time.RFC3339), "err", st.LastError)
	}
	if err := os.Rename(claimed, src); err != nil {
		q.log.ErrorContext(ctx, "mail not put back in the queue; it returns after the stale-claim delay", "file", name, "err", err)
	}
	_ = syncDir(q.dir)
	if st.NextTry.IsZero() {
		st.NextTry = now
	}
	return false, st.NextTry
}

// requeueStale puts back messages whose claim outlived StaleClaim: their deliverer died.
func (q *Queue) requeueStale() {
	dir := filepath.Join(q.dir, sendingDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !strings.HasSuffix(e.Name(), ".eml") || q.now().Sub(info.ModTime()) < StaleClaim {
			continue
		}
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(q.dir, e.Name())); err == nil {
			q.log.Warn("mail left in delivery by a stopped process is queued again; if the server had accepted it, it arrives twice with the same Message-ID",
				"file", e.Name())
		}
	}
}

// state is what the queue knows of a waiting message's attempts.
type state struct {
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	LastTry   time.Time `json:"last_try,omitzero"`
	NextTry   time.Time `json:"next_try,omitzero"`
}

func (q *Queue) statePath(name string) string {
	return filepath.Join(q.dir, stateDir, strings.TrimSuffix(name, ".eml")+".json")
}

func (q *Queue) readState(name string) state { return readState(q.dir, name) }

func readState(dir, name string) state {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, stateDir, strings.TrimSuffix(name, ".eml")+".json"))
	if err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// writeState replaces the state file whole. It is not synced: a state lost in a crash only
// makes the next try come sooner.
func (q *Queue) writeState(name string, st state) {
	b, _ := json.Marshal(st)
	p := q.statePath(name)
	tmp := p + ".tmp"
	err := os.WriteFile(tmp, b, 0o600)
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		q.log.Error("mail retry state not written; `mail status` may show old attempts", "file", name, "err", err)
	}
}

func clipError(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// sentRecord is one line of sent.log.
type sentRecord struct {
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id"`
	To        []string  `json:"to"`
	Subject   string    `json:"subject"`
}

func (q *Queue) record(env envelope, at time.Time) {
	b, _ := json.Marshal(sentRecord{At: at.UTC(), MessageID: env.id, To: env.to, Subject: env.subject})
	f, err := os.OpenFile(filepath.Join(q.dir, sentLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		q.log.Error("mail delivered but not recorded", "message_id", env.id, "err", err)
		return
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		q.log.Error("mail delivered but not recorded", "message_id", env.id, "err", err)
	}
}

// envelope is what delivery needs from a message's header.
type envelope struct {
	from    string
	to      []string
	id      string
	subject string
}

func parseEnvelope(raw []byte) (envelope, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return envelope{}, fmt.Errorf("malformed message: %w", err)
	}
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		return envelope{}, fmt.Errorf("malformed From: %w", err)
	}
	list, err := mail.ParseAddressList(m.Header.Get("To"))
	if err != nil || len(list) == 0 {
		return envelope{}, fmt.Errorf("malformed To: %v", err)
	}
	env := envelope{from: from.Address, id: m.Header.Get("Message-ID")}
	for _, a := range list {
		env.to = append(env.to, a.Address)
	}
	env.subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		env.subject = m.Header.Get("Subject")
	}
	return env, nil
}

// Waiting is a message that waits for delivery.
type Waiting struct {
	Name      string
	MessageID string
	To        []string
	Subject   string
	Queued    time.Time
	// Sending is set while a process is delivering it.
	Sending   bool
	Attempts  int
	LastError string
	LastTry   time.Time
	NextTry   time.Time // zero: at the next pass
}

// Status is what a queue holds.
type Status struct {
	Waiting  []Waiting // oldest first
	Sent     int       // messages recorded as delivered
	LastSent time.Time
}

// ReadStatus reads a queue's folder without changing anything, also while a server delivers
// from it.
func ReadStatus(dir string) (*Status, error) {
	st := &Status{}
	for _, sub := range []string{"", sendingDir} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("mail: queue: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if !e.Type().IsRegular() || !strings.HasSuffix(name, ".eml") || strings.HasPrefix(name, ".") {
				continue
			}
			w := Waiting{Name: name, Sending: sub != ""}
			if raw, err := os.ReadFile(filepath.Join(dir, sub, name)); err == nil {
				if env, err := parseEnvelope(raw); err == nil {
					w.MessageID, w.To, w.Subject = env.id, env.to, env.subject
				}
			}
			if t, err := time.Parse(nameLayout, strings.SplitN(name, "-", 2)[0]); err == nil {
				w.Queued = t
			}
			s := readState(dir, name)
			w.Attempts, w.LastError, w.LastTry, w.NextTry = s.Attempts, s.LastError, s.LastTry, s.NextTry
			st.Waiting = append(st.Waiting, w)
		}
	}
	slices.SortFunc(st.Waiting, func(a, b Waiting) int { return strings.Compare(a.Name, b.Name) })
	if f, err := os.Open(filepath.Join(dir, sentLog)); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r sentRecord
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				st.Sent++
				if r.At.After(st.LastSent) {
					st.LastSent = r.At
				}
			}
		}
	}
	return st, nil
}
