// Package slapdtest starts throwaway OpenLDAP slapd servers for tests and benchmarks, and
// generates directories for them. It is test support: production binaries never import it.
//
// slapd and its tools come from the Debian packages slapd and ldap-utils, which the README's
// test command installs where missing.
package slapdtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tributary-io/tributary/internal/testcert"
)

// Fixed names of every test directory.
const (
	Suffix   = "dc=example,dc=com"
	RootDN   = "cn=admin," + Suffix
	RootPW   = "admin-secret"
	ReaderDN = "cn=reader," + Suffix
	ReaderPW = "reader-secret"
	// LimitedDN is an account without an unlimited paged-results limit: its searches stop at
	// the server's size limit, as a misconfigured service account's would.
	LimitedDN = "cn=limited," + Suffix
	LimitedPW = "limited-secret"
	People    = "ou=people," + Suffix
	Groups    = "ou=groups," + Suffix
	Computers = "ou=computers," + Suffix
)

// Options configures Start.
type Options struct {
	// SizeLimit is the server's size limit for ordinary binds. Optional; defaults to 500.
	SizeLimit int
	// TLS gives the server a certificate signed by a fresh test CA (see Server.CAPEM), for
	// StartTLS and an ldaps:// listener. Optional.
	TLS bool
	// LDIF is loaded offline with slapadd before the server starts, after the base entries.
	// Optional; see WriteDirectory.
	LDIF func(w io.Writer) error
	// Log receives slapd's output when the test fails. Optional.
	Log io.Writer
}

// Server is a running slapd.
type Server struct {
	URL      string // ldap://127.0.0.1:port
	LDAPSURL string // ldaps://127.0.0.1:port when Options.TLS
	CAPEM    string // the test CA when Options.TLS
	Dir      string
	cmd      *exec.Cmd
}

// Binary returns the path of a slapd tool, or an error saying how to install it.
func Binary(name string) (string, error) {
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: install the Debian packages slapd and ldap-utils (scripts/test does)", name)
}

// Start starts a server for the test and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := StartServer(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartServer starts a server with its files in dir. Call Stop when done.
func StartServer(dir string, opts Options) (*Server, error) {
	slapd, err := Binary("slapd")
	if err != nil {
		return nil, err
	}
	slapadd, err := Binary("slapadd")
	if err != nil {
		return nil, err
	}
	if opts.SizeLimit <= 0 {
		opts.SizeLimit = 500
	}
	s := &Server{Dir: dir}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, err
	}
	tlsConf := ""
	if opts.TLS {
		ca, cert, key, err := testcert.Generate()
		if err != nil {
			return nil, err
		}
		s.CAPEM = string(ca)
		for name, b := range map[string][]byte{"ca.pem": ca, "cert.pem": cert, "key.pem": key} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				return nil, err
			}
		}
		tlsConf = fmt.Sprintf("TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n",
			filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
sizelimit %[2]d
%[3]s
database mdb
maxsize 1073741824
suffix "%[4]s"
rootdn "%[5]s"
rootpw %[6]s
directory %[1]s/db
dbnosync
index objectClass eq
index uid,cn,member eq
index entryUUID eq
index modifyTimestamp eq
limits dn.exact="%[7]s" size.soft=%[2]d size.hard=unlimited size.prtotal=unlimited
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
`, dir, opts.SizeLimit, tlsConf, Suffix, RootDN, RootPW, ReaderDN)
	confPath := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	ldifPath := filepath.Join(dir, "data.ldif")
	f, err := os.Create(ldifPath)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = writeBase(bw)
	if err == nil && opts.LDIF != nil {
		err = opts.LDIF(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write LDIF: %w", err)
	}
	if out, err := exec.Command(slapadd, "-q", "-f", confPath, "-l", ldifPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("slapadd: %v: %s", err, out)
	}
	_ = os.Remove(ldifPath)

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	urls := s.URL + "/"
	if opts.TLS {
		tport, err := freePort()
		if err != nil {
			return nil, err
		}
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", tport)
		urls += " " + s.LDAPSURL + "/"
	}
	// -d 0 keeps slapd in the foreground, so that Stop can end it and nothing outlives the test.
	s.cmd = exec.Command(slapd, "-f", confPath, "-h", urls, "-d", "0")
	logf, err := os.Create(filepath.Join(dir, "slapd.log"))
	if err != nil {
		return nil, err
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start slapd: %w", err)
	}
	go func() { _ = s.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := ldap.DialURL(s.URL)
		if err == nil {
			_, err = c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"namingContexts"}, nil))
			c.Close()
			if err == nil {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "slapd.log"))
			s.Stop()
			return nil, fmt.Errorf("slapd did not answer within 30s: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		for i := 0; i < 100 && s.cmd.ProcessState == nil; i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Admin returns a connection bound as the root DN, for changing the directory during a test.
func (s *Server) Admin(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("dial slapd: %v", err)
	}
	if err := c.Bind(RootDN, RootPW); err != nil {
		c.Close()
		t.Fatalf("bind as root: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// AddUser adds a user under ou=people.
func AddUser(c *ldap.Conn, uid, name, mail string) error {
	r := ldap.NewAddRequest("uid="+ldap.EscapeDN(uid)+","+People, nil)
	r.Attribute("objectClass", []string{"inetOrgPerson"})
	r.Attribute("uid", []string{uid})
	r.Attribute("cn", []string{name})
	r.Attribute("sn", []string{name})
	if mail != "" {
		r.Attribute("mail", []string{mail})
	}
	return c.Add(r)
}

func writeBase(w io.Writer) error {
	_, err := fmt.Fprintf(w, `dn: %[1]s
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: %[2]s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: %[3]s

dn: %[4]s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: limited
userPassword: %[5]s

dn: %[6]s
objectClass: organizationalUnit
ou: people

dn: %[7]s
objectClass: organizationalUnit
ou: groups

dn: %[8]s
objectClass: organizationalUnit
ou: computers

`, Suffix, ReaderDN, ReaderPW, LimitedDN, LimitedPW, People, Groups, Computers)
	return err
}

// DirectorySpec sizes a generated directory.
type DirectorySpec struct {
	Users     int
	Groups    int
	Computers int
	// MembersPerGroup is how many users each group lists (spread over all users).
	MembersPerGroup int
	// NestedGroups makes every tenth group also list the next group as a member.
	NestedGroups bool
}

// UserDN returns the DN of generated user i.
func UserDN(i int) string { return fmt.Sprintf("uid=user%06d,%s", i, People) }

// GroupDN returns the DN of generated group i.
func GroupDN(i int) string { return fmt.Sprintf("cn=group%05d,%s", i, Groups) }

// ComputerDN returns the DN of generated computer i.
func ComputerDN(i int) string { return fmt.Sprintf("cn=host%05d,%s", i, Computers) }

// WriteDirectory writes spec's entries as LDIF, streaming: any size fits in constant memory.
func WriteDirectory(spec DirectorySpec) func(w io.Writer) error {
	return func(w io.Writer) error {
		for i := 0; i < spec.Users; i++ {
			if _, err := fmt.Fprintf(w, "dn: %s\nobjectClass: inetOrgPerson\nuid: user%06d\ncn: User %06d\nsn: %06d\nmail: user%06d@example.com\ndescription: generated user\n\n",
				UserDN(i), i, i, i, i); err != nil {
				return err
			}
		}
		for i := 0; i < spec.Computers; i++ {
			if _, err := fmt.Fprintf(w, "dn: %s\nobjectClass: device\nobjectClass: ipHost\ncn: host%05d\nipHostNumber: 10.%d.%d.%d\ndescription: generated computer\n\n",
				ComputerDN(i), i, (i>>16)&255, (i>>8)&255, i&255); err != nil {
				return err
			}
		}
		for g := 0; g < spec.Groups; g++ {
			var b strings.Builder
			fmt.Fprintf(&b, "dn: %s\nobjectClass: groupOfNames\ncn: group%05d\ndescription: generated group\n", GroupDN(g), g)
			n := 0
			for m := 0; m < spec.MembersPerGroup && spec.Users > 0; m++ {
				fmt.Fprintf(&b, "member: %s\n", UserDN((g*spec.MembersPerGroup+m)%spec.Users))
				n++
			}
			if spec.NestedGroups && g%10 == 0 && g+1 < spec.Groups {
				fmt.Fprintf(&b, "member: %s\n", GroupDN(g+1))
				n++
			}
			if n == 0 {
				// groupOfNames requires a member.
				fmt.Fprintf(&b, "member: %s\n", Suffix)
			}
			b.WriteString("\n")
			if _, err := io.WriteString(w, b.String()); err != nil {
				return err
			}
		}
		return nil
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
