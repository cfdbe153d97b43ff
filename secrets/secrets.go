// Package secrets seals secret values (scanner passwords, bind passwords, secret headers,
// database URLs) with AES-256-GCM before they are stored, under keys named by an ID so
// that keys can be rotated.
package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// sealedPrefix starts every sealed value: "enc:v1:<key id>:<base64 nonce+ciphertext>".
const sealedPrefix = "enc:v1:"

// ErrUnknownKey is returned for a value sealed under a key the keyring does not hold.
var ErrUnknownKey = errors.New("sealed with a key that is not configured")

// Keyring holds the keys that open sealed values and the active key that seals new ones.
type Keyring struct {
	active string
	aeads  map[string]cipher.AEAD
}

// ParseKeyring reads keys in the form "id1:base64key1,id2:base64key2" (each key 32 bytes,
// standard base64) and the ID of the active key.
func ParseKeyring(keys, activeID string) (*Keyring, error) {
	k := &Keyring{active: strings.TrimSpace(activeID), aeads: map[string]cipher.AEAD{}}
	for _, part := range strings.Split(keys, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok || id == "" || strings.ContainsAny(id, ": ") {
			return nil, fmt.Errorf("secret key entry %q is not ID:base64key", redact(part))
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("secret key %q must be 32 bytes in standard base64 (openssl rand -base64 32)", id)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("secret key %q is given twice", id)
		}
		aead, err := newAEAD(raw)
		if err != nil {
			return nil, err
		}
		k.aeads[id] = aead
	}
	if len(k.aeads) == 0 {
		return nil, errors.New("no secret keys configured (TRIBUTARY_SECRET_KEYS=id:base64key)")
	}
	if k.active == "" && len(k.aeads) == 1 {
		for id := range k.aeads {
			k.active = id
		}
	}
	if _, ok := k.aeads[k.active]; !ok {
		return nil, fmt.Errorf("the active secret key %q (TRIBUTARY_SECRET_KEY_ID) is not among the configured keys", k.active)
	}
	return k, nil
}

// NewRandomKeyring returns a keyring with one fresh random key, for throwaway stacks and tests.
func NewRandomKeyring(id string) (*Keyring, string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", err
	}
	spec := id + ":" + base64.StdEncoding.EncodeToString(raw)
	k, err := ParseKeyring(spec, id)
	return k, spec, err
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ActiveID is the ID of the key that seals new values.
func (k *Keyring) ActiveID() string { return k.active }

// IDs lists the configured key IDs.
func (k *Keyring) IDs() []string {
	out := make([]string, 0, len(k.aeads))
	for id := range k.aeads {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Seal encrypts plaintext under the active key. The empty string stays empty (no secret set).
func (k *Keyring) Seal(plaintext string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	aead := k.aeads[k.active]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := aead.Seal(nonce, nonce, []byte(plaintext), []byte(k.active))
	return sealedPrefix + k.active + ":" + base64.RawStdEncoding.EncodeToString(ct), nil
}

// Open decrypts a sealed value. The empty string opens to the empty string.
func (k *Keyring) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	id, ct, err := parse(sealed)
	if err != nil {
		return "", err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownKey, id)
	}
	if len(ct) < aead.NonceSize() {
		return "", errors.New("sealed value is truncated")
	}
	pt, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], []byte(id))
	if err != nil {
		return "", fmt.Errorf("sealed value does not open with key %q: wrong key or corrupted value", id)
	}
	return string(pt), nil
}

// KeyID returns the ID of the key a value was sealed with.
func KeyID(sealed string) (string, error) {
	id, _, err := parse(sealed)
	return id, err
}

// IsSealed reports whether s looks like a sealed value.
func IsSealed(s string) bool { return strings.HasPrefix(s, sealedPrefix) }

func parse(sealed string) (string, []byte, error) {
	if !IsSealed(sealed) {
		return "", nil, errors.New("value is not sealed")
	}
	id, b64, ok := strings.Cut(strings.TrimPrefix(sealed, sealedPrefix), ":")
	if !ok {
		return "", nil, errors.New("sealed value is malformed")
	}
	ct, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		return "", nil, errors.New("sealed value is malformed")
	}
	return id, ct, nil
}

func redact(entry string) string {
	id, _, _ := strings.Cut(entry, ":")
	return id + ":…"
}

// Checker stores a sealed check value per key, so that a process started with the wrong key
// refuses to start instead of writing secrets no other process can read.
type Checker interface {
	// CheckValues returns the stored check value of every key that has sealed secrets.
	CheckValues(ctx context.Context) (map[string]string, error)
	// AddCheckValue stores the check value of a key that has none yet.
	AddCheckValue(ctx context.Context, keyID, sealed string) error
}

const checkPlaintext = "tributary secret key check"

// Verify refuses a keyring that cannot open what is stored: every key that sealed stored
// secrets must be configured and must be the same key. The active key's check value is
// added when missing. Nothing else is written.
func Verify(ctx context.Context, k *Keyring, c Checker) error {
	stored, err := c.CheckValues(ctx)
	if err != nil {
		return fmt.Errorf("read secret key checks: %w", err)
	}
	var problems []string
	for id, sealed := range stored {
		if _, ok := k.aeads[id]; !ok {
			problems = append(problems, fmt.Sprintf("stored secrets use key %q, which is not configured", id))
			continue
		}
		if pt, err := k.Open(sealed); err != nil || pt != checkPlaintext {
			problems = append(problems, fmt.Sprintf("key %q is not the key that sealed the stored secrets", id))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("refusing to start: %s (set TRIBUTARY_SECRET_KEYS to the keys in use; rotate with tributary-migrate rotate-secrets)", strings.Join(problems, "; "))
	}
	if _, ok := stored[k.active]; !ok {
		sealed, err := k.Seal(checkPlaintext)
		if err != nil {
			return err
		}
		if err := c.AddCheckValue(ctx, k.active, sealed); err != nil {
			return fmt.Errorf("store the check value of key %q: %w", k.active, err)
		}
	}
	return nil
}
