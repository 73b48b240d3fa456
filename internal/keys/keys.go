// Package keys holds the server key and what is derived from it.
//
// The server key is 32 random bytes, written as 64 hexadecimal characters: given in
// TWOFOLD_SECRET_KEY (the caller reads the environment and calls Parse) or, on SQLite only, kept
// in DATA/secret.key (LoadOrCreateFile). The key itself is never used directly: HKDF-SHA256
// derives one subkey per purpose, so that no two uses share a key:
//
//   - AES-256-GCM sealing of TOTP keys, bound to the account and key version, and of enrolment
//     keys that belong to no account yet;
//   - the HMAC key of backup codes;
//   - the HMAC key under which usernames submitted to the password step are kept;
//   - a check value that tells whether two instances share a key without revealing it.
//
// A Keys value never prints its secrets: fmt, log/slog and %#v show "[redacted]".
package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Version is the version of the server key, recorded beside sealed data (store.User's
// TOTPKeyVersion) and bound into it, so that keys can rotate later: data sealed under version 1
// will then be opened with the version-1 key and sealed anew under the next.
const Version = 1

// KeyLen is the length of the server key in bytes; its text form has twice as many characters.
const KeyLen = 32

// HKDF info labels, one per purpose. Changing one makes every stored value under it unreadable.
const (
	labelTOTP   = "twofold totp-key v1"
	labelBackup = "twofold backup-code mac v1"
	labelName   = "twofold username mac v1"
	labelCheck  = "twofold key check v1"
	// labelProvider keys what the OpenID Connect provider encrypts for itself: its codes and
	// access tokens (their random ids, readable only by Twofold).
	labelProvider = "twofold provider crypto v1"
)

// checkMessage is what the check subkey authenticates to make Check's value.
const checkMessage = "twofold server key check"

// nonceLen is AES-GCM's standard nonce length; random nonces of this length are safe for far
// more seals than a sign-in server makes under one key (NIST's 2^32 limit).
const nonceLen = 12

// ErrOpen is sealed data that does not open: another key, account or version, another purpose,
// or damaged data. The causes are not told apart, by design of authenticated encryption.
var ErrOpen = errors.New("keys: cannot open sealed data (wrong key, account or version, or damaged data)")

// Keys are the subkeys derived from one server key. The server key itself is not kept.
// A Keys is safe for concurrent use.
type Keys struct {
	aead      cipher.AEAD
	backupMAC [32]byte
	nameMAC   [32]byte
	provider  [32]byte
	check     string
}

// Parse reads a server key written as 64 hexadecimal characters (either case; surrounding white
// space, such as a file's final newline, is ignored). Its errors never quote the key.
func Parse(hexKey string) (*Keys, error) {
	s := strings.TrimSpace(hexKey)
	if len(s) != 2*KeyLen {
		return nil, fmt.Errorf("keys: the server key must be %d hexadecimal characters (%d random bytes), not %d characters", 2*KeyLen, KeyLen, len(s))
	}
	for i := range len(s) {
		if !isHex(s[i]) {
			return nil, fmt.Errorf("keys: the server key must be hexadecimal (0-9, a-f); character %d is not", i+1)
		}
	}
	master, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("keys: the server key is not hexadecimal") // unreachable after the loop
	}
	defer clear(master)
	return derive(master)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Generate answers a new random server key in its text form, for a first start or an operator
// who sets TWOFOLD_SECRET_KEY. Bytes come from rand (crypto/rand.Reader when nil).
func Generate(rand io.Reader) (string, error) {
	var raw [KeyLen]byte
	if _, err := io.ReadFull(orDefault(rand), raw[:]); err != nil {
		return "", fmt.Errorf("keys: reading random bytes: %w", err)
	}
	defer clear(raw[:])
	return hex.EncodeToString(raw[:]), nil
}

func derive(master []byte) (*Keys, error) {
	sub := func(label string) ([]byte, error) { return hkdf.Key(sha256.New, master, nil, label, 32) }
	totp, err := sub(labelTOTP)
	if err != nil {
		return nil, fmt.Errorf("keys: deriving: %w", err)
	}
	defer clear(totp)
	block, err := aes.NewCipher(totp)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	k := &Keys{aead: aead}
	backup, err := sub(labelBackup)
	if err != nil {
		return nil, fmt.Errorf("keys: deriving: %w", err)
	}
	copy(k.backupMAC[:], backup)
	clear(backup)
	name, err := sub(labelName)
	if err != nil {
		return nil, fmt.Errorf("keys: deriving: %w", err)
	}
	copy(k.nameMAC[:], name)
	clear(name)
	prov, err := sub(labelProvider)
	if err != nil {
		return nil, fmt.Errorf("keys: deriving: %w", err)
	}
	copy(k.provider[:], prov)
	clear(prov)
	checkKey, err := sub(labelCheck)
	if err != nil {
		return nil, fmt.Errorf("keys: deriving: %w", err)
	}
	defer clear(checkKey)
	m := hmac.New(sha256.New, checkKey)
	m.Write([]byte(checkMessage))
	k.check = hex.EncodeToString(m.Sum(nil))
	return k, nil
}

// SealTOTP encrypts an account's TOTP key with AES-256-GCM under a random 12-byte nonce read
// from rand (crypto/rand.Reader when nil), which prefixes the result. The account id and key
// version are bound in as additional data, so a sealed key copied to another account, or
// relabelled with another version, does not open.
func (k *Keys) SealTOTP(userID int64, version int, key []byte, rand io.Reader) ([]byte, error) {
	return k.seal(totpAD(userID, version), key, rand)
}

// OpenTOTP decrypts what SealTOTP sealed for the same account and version, or answers ErrOpen.
func (k *Keys) OpenTOTP(userID int64, version int, sealed []byte) ([]byte, error) {
	return k.open(totpAD(userID, version), sealed)
}

// SealPending encrypts an enrolment key that is not yet an account's, bound to sessionLabel
// (for instance the pending session's id). The additional data differs from SealTOTP's, so
// neither opens as the other.
func (k *Keys) SealPending(sessionLabel string, key []byte, rand io.Reader) ([]byte, error) {
	return k.seal(pendingAD(sessionLabel), key, rand)
}

// OpenPending decrypts what SealPending sealed under the same label, or answers ErrOpen.
func (k *Keys) OpenPending(sessionLabel string, sealed []byte) ([]byte, error) {
	return k.open(pendingAD(sessionLabel), sealed)
}

// SealSigningKey encrypts an application signing key (its PKCS #8 form) bound to the key's id,
// so that every instance sharing the server key signs with it and a copy under another id does
// not open.
func (k *Keys) SealSigningKey(id string, der []byte, rand io.Reader) ([]byte, error) {
	return k.seal(signingAD(id), der, rand)
}

// OpenSigningKey decrypts what SealSigningKey sealed for the same id, or answers ErrOpen.
func (k *Keys) OpenSigningKey(id string, sealed []byte) ([]byte, error) {
	return k.open(signingAD(id), sealed)
}

// ProviderKey answers the key with which the OpenID Connect provider encrypts its codes and
// access tokens. It is a copy.
func (k *Keys) ProviderKey() [32]byte { return k.provider }

// The purposes' prefixes differ before any caller-chosen byte, so no label or id makes one
// purpose's additional data equal another's.
func totpAD(userID int64, version int) []byte {
	return []byte("twofold totp|" + strconv.FormatInt(userID, 10) + "|" + strconv.Itoa(version))
}

func pendingAD(label string) []byte { return []byte("twofold pending|" + label) }

func signingAD(id string) []byte { return []byte("twofold signing|" + id) }

func (k *Keys) seal(ad, plaintext []byte, rand io.Reader) ([]byte, error) {
	out := make([]byte, nonceLen, nonceLen+len(plaintext)+k.aead.Overhead())
	if _, err := io.ReadFull(orDefault(rand), out); err != nil {
		return nil, fmt.Errorf("keys: reading nonce: %w", err)
	}
	return k.aead.Seal(out, out[:nonceLen], plaintext, ad), nil
}

func (k *Keys) open(ad, sealed []byte) ([]byte, error) {
	if len(sealed) < nonceLen+k.aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := k.aead.Open(nil, sealed[:nonceLen], sealed[nonceLen:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// BackupMACKey answers the key for backup-code MACs (backupcode.MAC). It is a copy: changing it
// changes nothing here.
func (k *Keys) BackupMACKey() []byte {
	b := k.backupMAC
	return b[:]
}

// UsernameMAC answers HMAC-SHA256 of a submitted username under a subkey of its own: what the
// password failure counts are kept under, so that a password typed into the username box is
// never stored. The caller normalises the username first, so that one name has one MAC.
func (k *Keys) UsernameMAC(username string) []byte {
	m := hmac.New(sha256.New, k.nameMAC[:])
	m.Write([]byte(username))
	return m.Sum(nil)
}

// Check answers 64 hexadecimal characters that identify the server key without revealing it: an
// HMAC of a fixed message under a subkey of its own. The database keeps it, so that an instance
// started with another key refuses to run instead of failing every sign-in.
func (k *Keys) Check() string { return k.check }

// redacted is what every printing of a Keys shows.
const redacted = "[redacted]"

// String answers "[redacted]": keys are never printed.
func (Keys) String() string { return redacted }

// GoString answers "[redacted]", for %#v.
func (Keys) GoString() string { return redacted }

// Format prints "[redacted]" for every verb, so that neither %x nor %+v can reach the fields.
func (Keys) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue makes log/slog show "[redacted]".
func (Keys) LogValue() slog.Value { return slog.StringValue(redacted) }

func orDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// CheckMeta is the name of the database's metadata that holds the Check of the key it was
// written with.
const CheckMeta = "key_check"

// MetaStore is where a database records which key it was written with.
type MetaStore interface {
	SetMetaOnce(ctx context.Context, key, value string) (string, error)
}

// ErrWrongKey means the server key is not the one the database was written with.
var ErrWrongKey = errors.New("the server key does not match the one this database was written with: check TWOFOLD_SECRET_KEY or DATA/secret.key")

// Bind records the key's check value in a database that has none, and refuses a key that is
// not the one the database was written with: TOTP keys sealed under another key could not be
// opened, and every instance must seal with the same one.
func (k *Keys) Bind(ctx context.Context, m MetaStore) error {
	stored, err := m.SetMetaOnce(ctx, CheckMeta, k.Check())
	if err != nil {
		return err
	}
	return k.Matches(stored)
}

// Matches answers ErrWrongKey unless stored, a database's recorded check value, is the key's.
func (k *Keys) Matches(stored string) error {
	if stored != k.Check() {
		return ErrWrongKey
	}
	return nil
}
