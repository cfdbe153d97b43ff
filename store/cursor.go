package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidCursor is returned for a pagination cursor that this server did not produce.
var ErrInvalidCursor = errors.New("invalid cursor")

// encodeCursor turns the key of a listing's last row into an opaque cursor.
func encodeCursor(key any) string {
	b, _ := json.Marshal(key) // cursor keys are structs of strings, times and UUIDs: they always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor made by encodeCursor into key, strictly; ok checks the decoded
// key. what names the listing in the error.
func decodeCursor(s string, key any, ok func() bool, what string) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%w: not base64url", ErrInvalidCursor)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(key); err != nil || !ok() {
		return fmt.Errorf("%w: not a %s cursor", ErrInvalidCursor, what)
	}
	return nil
}
