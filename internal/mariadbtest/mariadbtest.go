// Package mariadbtest starts throwaway MariaDB servers for tests and benchmarks: the target
// databases of the data-out tasks. It is test support: production binaries never import it.
//
// The server comes from Debian's mariadb-server package, which the README's test command
// installs where missing.
package mariadbtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the MySQL protocol driver

	"github.com/tributary-io/tributary/internal/testcert"
)

// Server is a running mariadbd, reachable over TCP on 127.0.0.1 as root without a password.
type Server struct {
	Host string
	Port int
	Dir  string
	// CAPEM is the CA that signs the server's certificate (for 127.0.0.1 and localhost) when
	// it was started with TLS.
	CAPEM string
	cmd   *exec.Cmd
	log   *bytes.Buffer
}

// binary finds a MariaDB program, or says how to install it.
func binary(name string) (string, error) {
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: install the Debian package mariadb-server (scripts/test does)", name)
}

// Options configures a server.
type Options struct {
	// TLS gives the server a certificate signed by a fresh test CA (Server.CAPEM).
	TLS bool
}

// Start starts a server in a temporary directory; it is stopped when the test ends.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	// Not t.TempDir: its parents are private to this user, and as root the server runs as mysql.
	dir, err := os.MkdirTemp("", "tributary-mariadb-")
	if err != nil {
		t.Fatal(err)
	}
	s, err := StartDirWith(dir, opts)
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		_ = os.RemoveAll(dir)
	})
	return s
}

// StartDir starts a server with its data in dir (which every user must be able to reach when
// running as root). Stop it with Stop.
func StartDir(dir string) (*Server, error) { return StartDirWith(dir, Options{}) }

// StartDirWith is StartDir with options.
func StartDirWith(dir string, opts Options) (*Server, error) {
	install, err := binary("mariadb-install-db")
	if err != nil {
		return nil, err
	}
	daemon, err := binary("mariadbd")
	if err != nil {
		return nil, err
	}
	// As root the server runs as the mysql system user, which must own its directory.
	var owner []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("mysql")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the mysql system user of the mariadb-server package: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		owner = []string{"--user=mysql"}
	}
	data := filepath.Join(dir, "data")
	out, err := exec.Command(install, append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve"}, owner...)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", Port: port, Dir: dir, log: &bytes.Buffer{}}
	var tlsArgs []string
	if opts.TLS {
		ca, cert, key, err := testcert.Generate()
		if err != nil {
			return nil, err
		}
		for name, pem := range map[string][]byte{"ca.pem": ca, "server.pem": cert, "server-key.pem": key} {
			if err := os.WriteFile(filepath.Join(dir, name), pem, 0o644); err != nil {
				return nil, err
			}
		}
		s.CAPEM = string(ca)
		tlsArgs = []string{"--ssl-ca=" + filepath.Join(dir, "ca.pem"), "--ssl-cert=" + filepath.Join(dir, "server.pem"),
			"--ssl-key=" + filepath.Join(dir, "server-key.pem")}
	}
	owner = append(owner, tlsArgs...)
	s.cmd = exec.Command(daemon, append([]string{"--no-defaults", "--datadir=" + data, "--socket=" + filepath.Join(dir, "mysqld.sock"),
		"--port=" + strconv.Itoa(port), "--bind-address=127.0.0.1", "--skip-name-resolve", "--innodb-buffer-pool-size=128M",
		"--skip-log-bin", "--innodb-flush-log-at-trx-commit=0", "--max-connections=200", "--local-infile=1",
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"), "--log-error=" + filepath.Join(dir, "error.log")}, owner...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// The server dies with the process that started it, even when that one is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := sql.Open("mysql", s.DSN(""))
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) || s.cmd.ProcessState != nil {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			s.Stop()
			return nil, fmt.Errorf("mariadbd did not start: %v\n%s", err, errLog)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// DSN is the go-sql-driver/mysql data source name of database db as root.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("root@tcp(%s:%d)/%s?parseTime=true&multiStatements=false", s.Host, s.Port, db)
}

// CreateDatabase creates a database and returns a connection to it.
func (s *Server) CreateDatabase(t testing.TB, name string) *sql.DB {
	t.Helper()
	root, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.ExecContext(context.Background(), "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", s.DSN(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Stop kills the server and waits for it.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CreateUser creates a user with a password and every privilege on database db.
func (s *Server) CreateUser(t testing.TB, name, password, db string) {
	t.Helper()
	root, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, stmt := range []string{
		"CREATE USER '" + name + "'@'%' IDENTIFIED BY '" + password + "'",
		"GRANT ALL PRIVILEGES ON `" + db + "`.* TO '" + name + "'@'%'",
	} {
		if _, err := root.ExecContext(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}
