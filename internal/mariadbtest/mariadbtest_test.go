package mariadbtest

import (
	"context"
	"testing"
)

func TestStart(t *testing.T) {
	s := Start(t)
	db := s.CreateDatabase(t, "probe")
	var v string
	if err := db.QueryRowContext(context.Background(), "SELECT VERSION()").Scan(&v); err != nil {
		t.Fatal(err)
	}
	t.Logf("MariaDB %s on port %d", v, s.Port)
}
