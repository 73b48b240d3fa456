// Package webauthntest is a software security key for tests (SPEC §9): an ES256 key pair that
// answers the options of a begin, {"publicKey": OPTIONS} as Twofold's API answers them, with
// the credential a browser returns (PublicKeyCredential.toJSON()), attestation "none". It
// signs for whatever origin it is told, so that tests can also play a phishing site.
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Key is one credential of a software authenticator.
type Key struct {
	ID []byte
	// Origin is the origin the browser reports in the client data.
	Origin string
	// SignCount is the signature counter: Get moves it on by one before it signs, and a test
	// may set it back to play a cloned key.
	SignCount uint32
	// UserHandle is the user handle Create was given, returned with each assertion.
	UserHandle []byte

	priv *ecdsa.PrivateKey
}

// New makes a key for origin.
func New(origin string) (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return &Key{ID: id, Origin: origin, priv: priv}, nil
}

var b64 = base64.RawURLEncoding

// options is what the key reads of a begin's answer.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

func parse(begin []byte) (*options, error) {
	var o options
	if err := json.Unmarshal(begin, &o); err != nil {
		return nil, fmt.Errorf("webauthntest: the begin answer: %w", err)
	}
	if o.PublicKey.Challenge == "" {
		return nil, fmt.Errorf("webauthntest: the begin answer has no publicKey.challenge")
	}
	return &o, nil
}

func (k *Key) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.Origin, "crossOrigin": false})
	return b
}

// authData is the authenticator data for rpID: user present and verified, the counter, and
// the attested credential when attested.
func (k *Key) authData(rpID string, attested bool) ([]byte, error) {
	rp := sha256.Sum256([]byte(rpID))
	flags := byte(0x01 | 0x04) // UP, UV
	if attested {
		flags |= 0x40 // AT
	}
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.SignCount)
	if attested {
		out = append(out, make([]byte, 16)...) // AAGUID
		out = binary.BigEndian.AppendUint16(out, uint16(len(k.ID)))
		out = append(out, k.ID...)
		x, y := k.priv.X.FillBytes(make([]byte, 32)), k.priv.Y.FillBytes(make([]byte, 32))
		cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y}) // EC2, ES256, P-256
		if err != nil {
			return nil, err
		}
		out = append(out, cose...)
	}
	return out, nil
}

// Create answers the begin of a registration with a new credential.
func (k *Key) Create(begin []byte) ([]byte, error) {
	o, err := parse(begin)
	if err != nil {
		return nil, err
	}
	if k.UserHandle, err = b64.DecodeString(o.PublicKey.User.ID); err != nil {
		return nil, fmt.Errorf("webauthntest: user.id: %w", err)
	}
	data, err := k.authData(o.PublicKey.RP.ID, true)
	if err != nil {
		return nil, err
	}
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": data})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"usb"},
		},
		"clientExtensionResults": map[string]any{}, "authenticatorAttachment": "cross-platform"})
}

// Get answers the begin of a sign-in with an assertion, the counter moved on first.
func (k *Key) Get(begin []byte) ([]byte, error) {
	o, err := parse(begin)
	if err != nil {
		return nil, err
	}
	k.SignCount++
	data, err := k.authData(o.PublicKey.RPID, false)
	if err != nil {
		return nil, err
	}
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(data), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(data),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(k.UserHandle),
		},
		"clientExtensionResults": map[string]any{}, "authenticatorAttachment": "cross-platform"})
}
