// Package testenv gives integration tests the real parts: a fresh, migrated Postgres database
// (from TEST_DATABASE_URL, which scripts/test provides) and an in-process Temporal server.
// Production code never imports it.
package testenv

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/tributary-io/tributary/dispatch"
	"github.com/tributary-io/tributary/schema"
	"github.com/tributary-io/tributary/store"
)

// DatabaseURL returns TEST_DATABASE_URL or fails the test with how to get one.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		t.Fatal("TEST_DATABASE_URL is not set: run the tests with scripts/test, which starts a throwaway Postgres")
	}
	return u
}

// EmptyDB creates a new, empty database on the test server and returns its URL; the
// database is dropped when the test ends.
func EmptyDB(t testing.TB) string {
	t.Helper()
	return EmptyDBOn(t, DatabaseURL(t))
}

// EmptyDBOn is EmptyDB on the server of base (a postgres:// URL) instead of the shared one.
func EmptyDBOn(t testing.TB, base string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := store.Open(ctx, base, store.OpenOptions{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("connect to %s: %v", base, err)
	}
	name := "tributary_test_" + strings.ReplaceAll(uuid.NewString()[:18], "-", "")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s must be a postgres:// URL: %v", base, err)
	}
	u.Path = "/" + name
	return u.String()
}

// DB returns a connection to a new database with every migration applied.
func DB(t testing.TB) *bun.DB {
	t.Helper()
	db, _ := DBWithURL(t)
	return db
}

// DBWithURL is DB that also returns the database's URL, for processes the test starts.
func DBWithURL(t testing.TB) (*bun.DB, string) {
	t.Helper()
	return DBWithURLOn(t, DatabaseURL(t))
}

// DBWithURLOn is DBWithURL on the server of base instead of the shared one.
func DBWithURLOn(t testing.TB, base string) (*bun.DB, string) {
	t.Helper()
	ctx := context.Background()
	u := EmptyDBOn(t, base)
	db, err := store.Open(ctx, u, store.OpenOptions{MaxOpenConns: 40})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := schema.Up(ctx, db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db, u
}

// Temporal starts an in-process Temporal server with Tributary's search attributes
// registered, and returns it with a client of its namespace.
func Temporal(t *testing.T) (*temporaltest.TestServer, client.Client) {
	t.Helper()
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dispatch.RegisterSearchAttributes(ctx, c, ts.GetDefaultNamespace()); err != nil {
		t.Fatalf("register search attributes: %v", err)
	}
	return ts, c
}

// Eventually polls cond every 50ms until it returns nil or timeout passes, then fails with
// cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ReportingURL gives the test cluster's tributary_reporting role a login (cluster-wide, once)
// and returns the URL of the database at dbURL as that role: what REPORTING_DATABASE_URL is
// in production.
func ReportingURL(t testing.TB, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := store.Open(ctx, DatabaseURL(t), store.OpenOptions{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for i := 0; ; i++ {
		_, err = admin.ExecContext(ctx, "ALTER ROLE tributary_reporting LOGIN PASSWORD 'reporting-test'")
		// Test processes running at once may update the role together.
		if err == nil || i == 20 || !strings.Contains(err.Error(), "concurrently") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the migrations did not create tributary_reporting: %v", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("tributary_reporting", "reporting-test")
	return u.String()
}
