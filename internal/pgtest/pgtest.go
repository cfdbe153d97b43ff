// Package pgtest gives a test a private, throwaway PostgreSQL cluster it may stop, crash and
// restart (the shared TEST_DATABASE_URL server must stay up for every other test). It is the
// dev stack's cluster (devstack.StartPostgres) tied to the test's lifetime. Test support:
// production binaries never import it.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/devstack"
)

// Cluster is a running (or halted) PostgreSQL cluster on 127.0.0.1:Port; user postgres
// connects without a password.
type Cluster struct {
	*devstack.Postgres
}

// Start starts a cluster; it is stopped and removed when the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	pg, err := devstack.StartPostgres(context.Background(), devstack.PostgresOptions{Database: "pgtest"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	return &Cluster{pg}
}

// Stop stops the cluster: mode "fast" (disconnects clients, clean shutdown) or "immediate"
// (like a crash); Start starts it again.
func (c *Cluster) Stop(mode string) error { return c.Halt(mode) }

// Start starts the stopped cluster.
func (c *Cluster) Start() error { return c.Resume() }

// Restart is pg_ctl stop in mode, then start.
func (c *Cluster) Restart(mode string) error {
	if err := c.Halt(mode); err != nil {
		return err
	}
	return c.Resume()
}

// WaitDown waits until nothing accepts connections on the port.
func (c *Cluster) WaitDown(timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.Port), time.Second)
		if err != nil {
			return nil
		}
		conn.Close()
	}
	return fmt.Errorf("postgres on port %d still accepts connections", c.Port)
}
