package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// BinDir holds initdb, pg_ctl and postgres. Optional; the newest /usr/lib/postgresql/*/bin is used.
	BinDir string
	// Port to listen on (loopback only). Optional; 0 picks a free port.
	Port int
	// Database to create for the application. Optional; defaults to "tributary".
	Database string
}

// Postgres is a throwaway PostgreSQL cluster in a temporary directory.
type Postgres struct {
	// URL connects to the application database.
	URL string
	// Port is the loopback port the cluster listens on.
	Port int
	dir  string
	bin  string
	opts string   // the server options it is started with
	run  []string // command prefix that runs a command as the cluster's owner
}

// StartPostgres initialises a cluster in a new temporary directory and starts it. When the
// process runs as root, the cluster runs as the postgres system user (initdb refuses root).
func StartPostgres(ctx context.Context, o PostgresOptions) (*Postgres, error) {
	bin, err := findPGBin(o.BinDir)
	if err != nil {
		return nil, err
	}
	if o.Port == 0 {
		if o.Port, err = freePort("127.0.0.1"); err != nil {
			return nil, err
		}
	}
	if o.Database == "" {
		o.Database = "tributary"
	}
	dir, err := os.MkdirTemp("", "tributary-dev-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{dir: dir, bin: bin, Port: o.Port,
		opts: fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200", o.Port, dir)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs the postgres system user (installed with the postgresql package): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		if err := os.Chown(dir, uid, -1); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		p.run = []string{"runuser", "-u", "postgres", "--"}
	}
	data := filepath.Join(dir, "data")
	if err := p.exec(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"); err != nil {
		p.cleanup()
		return nil, fmt.Errorf("initdb: %w", err)
	}
	if err := p.Resume(); err != nil {
		p.cleanup()
		return nil, err
	}
	if err := p.exec(ctx, filepath.Join(bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(o.Port), "-U", "postgres", o.Database); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("createdb: %w", err)
	}
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", o.Port, o.Database)
	return p, nil
}

// Stop stops the cluster and removes its directory.
func (p *Postgres) Stop() error {
	err := p.exec(context.Background(), filepath.Join(p.bin, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-m", "fast", "-w", "stop")
	p.cleanup()
	return err
}

// Halt stops the cluster and keeps its directory, so that Resume starts it again: mode is
// pg_ctl's, "fast" (clean shutdown) or "immediate" (like a crash: recovery from the WAL on
// the next start). Tests use it to take the database away under a running system.
func (p *Postgres) Halt(mode string) error {
	return p.exec(context.Background(), filepath.Join(p.bin, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-m", mode, "-w", "-t", "60", "stop")
}

// Resume starts the (halted) cluster and waits until it accepts connections.
func (p *Postgres) Resume() error {
	log := filepath.Join(p.dir, "postgres.log")
	if err := p.exec(context.Background(), filepath.Join(p.bin, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-l", log, "-w", "-t", "60", "-o", p.opts, "start"); err != nil {
		logTail, _ := os.ReadFile(log)
		return fmt.Errorf("pg_ctl start: %w\n%s", err, logTail)
	}
	return nil
}

func (p *Postgres) cleanup() { _ = os.RemoveAll(p.dir) }

func (p *Postgres) exec(ctx context.Context, name string, args ...string) error {
	argv := append(append([]string{}, p.run...), name)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = p.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func findPGBin(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", errors.New("no PostgreSQL server binaries found: install the postgresql package (apt-get install postgresql) or set DATABASE_URL")
	}
	sort.Slice(matches, func(i, j int) bool { return pgVersion(matches[i]) > pgVersion(matches[j]) })
	return filepath.Dir(matches[0]), nil
}

func pgVersion(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}
