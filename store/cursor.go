package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/uptrace/bun"
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

type idCursor struct {
	ID int64 `json:"i"`
}

// pageByID returns one page of q ordered by the bigint column idCol, after the cursor (a
// cursor of the listing named what), and the next page's cursor.
func pageByID[T any](ctx context.Context, q *bun.SelectQuery, out *[]T, idCol, what, cursor string, limit int, key func(T) int64) ([]T, string, error) {
	if cursor != "" {
		var c idCursor
		if err := decodeCursor(cursor, &c, func() bool { return c.ID > 0 }, what); err != nil {
			return nil, "", err
		}
		q = q.Where("? > ?", bun.Ident(idCol), c.ID)
	}
	if err := q.OrderExpr("?", bun.Ident(idCol)).Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, "", mapError(err)
	}
	page := *out
	if len(page) <= limit {
		return page, "", nil
	}
	page = page[:limit]
	return page, encodeCursor(idCursor{ID: key(page[len(page)-1])}), nil
}
