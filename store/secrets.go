package store

import (
	"context"

	"github.com/uptrace/bun"
)

// SecretChecks stores the check value of each encryption key (secrets.Checker).
type SecretChecks struct{ db bun.IDB }

type secretKeyCheck struct {
	bun.BaseModel `bun:"table:secret_key_checks"`
	KeyID         string `bun:"key_id,pk"`
	Sealed        string `bun:"sealed,notnull"`
}

// CheckValues returns the check value of every key.
func (s *SecretChecks) CheckValues(ctx context.Context) (map[string]string, error) {
	var rows []secretKeyCheck
	if err := s.db.NewSelect().Model(&rows).Scan(ctx); err != nil {
		return nil, mapError(err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.KeyID] = r.Sealed
	}
	return out, nil
}

// AddCheckValue stores the check value of keyID unless it has one.
func (s *SecretChecks) AddCheckValue(ctx context.Context, keyID, sealed string) error {
	_, err := s.db.NewInsert().Model(&secretKeyCheck{KeyID: keyID, Sealed: sealed}).On("CONFLICT (key_id) DO NOTHING").Exec(ctx)
	return mapError(err)
}

// DeleteOtherChecks removes the check values of every key but keyID (after a rotation).
func (s *SecretChecks) DeleteOtherChecks(ctx context.Context, keyID string) error {
	_, err := s.db.NewDelete().Model((*secretKeyCheck)(nil)).Where("key_id <> ?", keyID).Exec(ctx)
	return mapError(err)
}
