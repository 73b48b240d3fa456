package provider

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-auth/twofold/internal/keys"
	"github.com/twofold-auth/twofold/internal/store"
)

// Signing keys (SPEC §7 "Signing keys"): made at first start and kept in the database sealed
// with the server key, so that every instance signs with the same keys.
const (
	keyBits = 2048
	// keyReload is how stale an instance's copy of the keys may be: a key rotated by the
	// command line or another instance signs here within this time.
	keyReload = 5 * time.Second
	// retiredKeyPublished is how long a retired key stays in the JWKS: longer than any token it
	// signed lives.
	retiredKeyPublished = IDTokenLifetime + 45*time.Minute
)

type signingKey struct {
	id      string
	key     *rsa.PrivateKey
	retired time.Time
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is a key as the JWKS shows it.
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }

// keyRing is an instance's copy of the signing keys, read again after keyReload.
type keyRing struct {
	p      *Provider
	sealer *keys.Keys

	mu     sync.Mutex
	loaded time.Time // by the real clock: a cache's age, not a rule
	all    []*signingKey
}

var errNoKey = errors.New("provider: no signing key")

// ensure makes the first key when there is none.
func (kr *keyRing) ensure(ctx context.Context) error {
	if _, err := kr.signing(ctx); !errors.Is(err, errNoKey) {
		return err
	}
	_, err := kr.rotate(ctx)
	return err
}

// load reads the keys when the copy is stale.
func (kr *keyRing) load(ctx context.Context, force bool) ([]*signingKey, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if !force && kr.all != nil && time.Since(kr.loaded) < keyReload {
		return kr.all, nil
	}
	rows, err := kr.p.st.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	all := make([]*signingKey, 0, len(rows))
	for _, row := range rows {
		der, err := kr.sealer.OpenSigningKey(row.ID, row.Sealed)
		if err != nil {
			return nil, fmt.Errorf("provider: signing key %s: %w", row.ID, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		clear(der)
		if err != nil {
			return nil, fmt.Errorf("provider: signing key %s: %w", row.ID, err)
		}
		rsaKey, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("provider: signing key %s is not RSA", row.ID)
		}
		all = append(all, &signingKey{id: row.ID, key: rsaKey, retired: row.RetiredAt})
	}
	kr.all, kr.loaded = all, time.Now()
	return all, nil
}

// signing answers the newest key not retired.
func (kr *keyRing) signing(ctx context.Context) (*signingKey, error) {
	all, err := kr.load(ctx, false)
	if err != nil {
		return nil, err
	}
	for _, k := range all {
		if k.retired.IsZero() {
			return k, nil
		}
	}
	return nil, errNoKey
}

// published answers the keys of the JWKS: the signing key and those retired recently.
func (kr *keyRing) published(ctx context.Context) ([]op.Key, error) {
	all, err := kr.load(ctx, false)
	if err != nil {
		return nil, err
	}
	now := kr.p.now()
	var out []op.Key
	for _, k := range all {
		if k.retired.IsZero() || now.Sub(k.retired) < retiredKeyPublished {
			out = append(out, publicKey{k})
		}
	}
	return out, nil
}

// rotate makes a new key that signs from now on; the others retire and stay published for
// retiredKeyPublished, and keys retired longer ago are removed.
func (kr *keyRing) rotate(ctx context.Context) (string, error) {
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	defer clear(der)
	id, err := randomString(kr.p.rand, 12)
	if err != nil {
		return "", err
	}
	sealed, err := kr.sealer.SealSigningKey(id, der, kr.p.rand)
	if err != nil {
		return "", err
	}
	now := kr.p.now()
	err = kr.p.st.Update(ctx, func(q store.Queries) error {
		if err := q.CreateSigningKey(ctx, &store.SigningKey{ID: id, Sealed: sealed, KeyVersion: keys.Version, CreatedAt: now}); err != nil {
			return err
		}
		if err := q.RetireSigningKeys(ctx, id, now); err != nil {
			return err
		}
		return q.DeleteSigningKeys(ctx, now.Add(-retiredKeyPublished))
	})
	if err != nil {
		return "", err
	}
	if _, err := kr.load(ctx, true); err != nil {
		return "", err
	}
	return id, nil
}

// RotateKey makes a new signing key (twofold oidc rotate-key): it signs from now on, on every
// instance within keyReload; the old one stays in the JWKS until every token it signed has
// expired.
func (p *Provider) RotateKey(ctx context.Context, actor string) (string, error) {
	id, err := p.keys.rotate(ctx)
	if err != nil {
		return "", err
	}
	if err := p.st.AddEvent(ctx, &store.Event{At: p.now(), Actor: actor, Action: ActionKeyRotated, Detail: "new key " + id}); err != nil {
		return "", err
	}
	return id, nil
}
