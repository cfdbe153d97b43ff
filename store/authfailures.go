package store

import (
	"context"
	"time"
)

// RecordAuthFailure counts a failed authentication from addr for every API replica.
func (s *Store) RecordAuthFailure(ctx context.Context, addr string) error {
	_, err := s.DB.ExecContext(ctx, "INSERT INTO auth_failures (addr) VALUES (?)", addr)
	return mapError(err)
}

// BlockedAddrs returns the addresses with at least limit failed authentications within the
// last window, across replicas, and prunes failures older than ten windows.
func (s *Store) BlockedAddrs(ctx context.Context, limit int, window time.Duration) (map[string]bool, error) {
	if _, err := s.DB.ExecContext(ctx, "DELETE FROM auth_failures WHERE at < clock_timestamp() - make_interval(secs => ?)",
		(10 * window).Seconds()); err != nil {
		return nil, mapError(err)
	}
	var addrs []string
	err := s.DB.NewRaw(`SELECT addr FROM auth_failures WHERE at > clock_timestamp() - make_interval(secs => ?) GROUP BY addr HAVING count(*) >= ?`,
		window.Seconds(), limit).Scan(ctx, &addrs)
	if err != nil {
		return nil, mapError(err)
	}
	out := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		out[a] = true
	}
	return out, nil
}
