// Package pgtest starts a private, throwaway PostgreSQL cluster that a test may stop, kill
// and restart (the shared TEST_DATABASE_URL server must stay up for every other test). It is
// test support: production binaries never import it.
//
// The server comes from Debian's postgresql package, which the README's test command installs
// where missing. As root, the cluster runs as the postgres system user (initdb refuses root).
package pgtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Cluster is a running (or stopped) PostgreSQL cluster on 127.0.0.1:Port; user postgres
// connects without a password.
type Cluster struct {
	Port int
	Dir  string
	bin  string
	cred *syscall.Credential
	t    testing.TB
}

// bindir finds the PostgreSQL server programs.
func bindir() (string, error) {
	if d := os.Getenv("PGBIN"); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Strings(matches)
	if len(matches) == 0 {
		return "", fmt.Errorf("pg_ctl not found: install the Debian package postgresql (scripts/test does)")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

// Start initialises a cluster in a temporary directory and starts it; it is stopped and
// removed when the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin, err := bindir()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parents are private to this user, and as root the server runs as postgres.
	dir, err := os.MkdirTemp("", "tributary-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Dir: dir, bin: bin, t: t}
	t.Cleanup(func() {
		_ = c.pgctl("stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres system user (the postgresql package creates it): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.run(filepath.Join(bin, "initdb"), "-D", c.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

// URL is the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
}

func (c *Cluster) run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	cmd.Dir = c.Dir
	err := cmd.Run()
	return out.String(), err
}

func (c *Cluster) pgctl(args ...string) error {
	args = append(args, "-D", c.data(), "-w", "-t", "60")
	out, err := c.run(filepath.Join(c.bin, "pg_ctl"), args...)
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %v\n%s", args, err, out)
	}
	return nil
}

// Start starts the (stopped) cluster and waits until it accepts connections.
func (c *Cluster) Start() error {
	return c.pgctl("start", "-l", filepath.Join(c.Dir, "server.log"),
		"-o", fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200", c.Port, c.Dir))
}

// Stop stops the cluster: mode "fast" (disconnects clients, clean shutdown) or "immediate"
// (like a crash: the next start recovers from the WAL).
func (c *Cluster) Stop(mode string) error { return c.pgctl("stop", "-m", mode) }

// Restart is pg_ctl restart in mode.
func (c *Cluster) Restart(mode string) error {
	return c.pgctl("restart", "-m", mode, "-l", filepath.Join(c.Dir, "server.log"),
		"-o", fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200", c.Port, c.Dir))
}

// Log returns what the server logged.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "server.log"))
	return string(b)
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
