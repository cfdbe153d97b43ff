package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Token is an API token; only the hash of its secret is stored.
type Token struct {
	bun.BaseModel `bun:"table:api_tokens"`

	ID         uuid.UUID  `bun:"id,pk,type:uuid"`
	Name       string     `bun:"name,notnull"`
	Role       string     `bun:"role,notnull"`
	TokenHash  []byte     `bun:"token_hash,notnull"`
	Prefix     string     `bun:"prefix,notnull"`
	CreatedAt  time.Time  `bun:"created_at,notnull"`
	CreatedBy  string     `bun:"created_by,notnull"`
	ExpiresAt  *time.Time `bun:"expires_at"`
	LastUsedAt *time.Time `bun:"last_used_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
}

// Tokens reads and writes API tokens.
type Tokens struct{ db bun.IDB }

// Insert stores a new token.
func (s *Tokens) Insert(ctx context.Context, t *Token) error {
	_, err := s.db.NewInsert().Model(t).Exec(ctx)
	return mapError(err)
}

// ByHash returns the token whose secret hashes to hash, or ErrNotFound.
func (s *Tokens) ByHash(ctx context.Context, hash []byte) (*Token, error) {
	t := new(Token)
	return t, mapError(s.db.NewSelect().Model(t).Where("token_hash = ?", hash).Scan(ctx))
}

// List returns every token, newest first.
func (s *Tokens) List(ctx context.Context) ([]Token, error) {
	var out []Token
	return out, mapError(s.db.NewSelect().Model(&out).OrderExpr("created_at DESC, id").Scan(ctx))
}

// Revoke marks the token with id revoked; revoking twice keeps the first time.
func (s *Tokens) Revoke(ctx context.Context, id uuid.UUID, at time.Time) error {
	res, err := s.db.NewUpdate().Model((*Token)(nil)).Set("revoked_at = coalesce(revoked_at, ?)", at).
		Where("id = ?", id).Exec(ctx)
	if err != nil {
		return mapError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Touch records a use of the token, at most once per interval.
func (s *Tokens) Touch(ctx context.Context, id uuid.UUID, at time.Time, interval time.Duration) error {
	_, err := s.db.NewUpdate().Model((*Token)(nil)).Set("last_used_at = ?", at).
		Where("id = ?", id).Where("last_used_at IS NULL OR last_used_at < ?", at.Add(-interval)).Exec(ctx)
	return mapError(err)
}

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	bun.BaseModel `bun:"table:audit_events"`

	ID         int64      `bun:"id,pk,autoincrement"`
	At         time.Time  `bun:"at,notnull"`
	Actor      string     `bun:"actor,notnull"`
	TokenID    *uuid.UUID `bun:"token_id,type:uuid"`
	RemoteAddr string     `bun:"remote_addr,notnull"`
	Method     string     `bun:"method,notnull"`
	Route      string     `bun:"route,notnull"`
	ResourceID string     `bun:"resource_id,notnull"`
	Status     int        `bun:"status,notnull"`
	Summary    string     `bun:"summary,notnull"`
}

// Audit reads and writes the audit trail.
type Audit struct{ db bun.IDB }

// Record appends e to the trail.
func (s *Audit) Record(ctx context.Context, e *AuditEvent) error {
	_, err := s.db.NewInsert().Model(e).Exec(ctx)
	return mapError(err)
}

// List returns up to limit events older than beforeID (0: the newest), newest first.
func (s *Audit) List(ctx context.Context, actor string, beforeID int64, limit int) ([]AuditEvent, error) {
	var out []AuditEvent
	q := s.db.NewSelect().Model(&out).OrderExpr("id DESC").Limit(int64(limit))
	if actor != "" {
		q = q.Where("actor = ?", actor)
	}
	if beforeID > 0 {
		q = q.Where("id < ?", beforeID)
	}
	return out, mapError(q.Scan(ctx))
}
