// Package pgtest runs a throwaway PostgreSQL server for tests: Debian's binaries
// (/usr/lib/postgresql/<version>/bin), a new cluster in a temporary directory, listening on a
// Unix socket in it only. One server serves a whole test binary, started by the first Start;
// each Start gets a database of its own, dropped when its test ends. Stop, called from TestMain
// after the tests, shuts the server down and removes its directory; a test binary that dies
// without calling it takes the server with it.
//
// Without PostgreSQL the tests that need it skip, saying how to install it — or fail when the
// environment variable CI is set, because CI must run them.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// binGlob finds Debian's PostgreSQL binaries, one directory per major version.
const binGlob = "/usr/lib/postgresql/*/bin"

// readyTimeout bounds the wait for a new server to accept connections.
const readyTimeout = 30 * time.Second

// port is the server's port: it names the socket file, and nothing else listens on it.
const port = 5432

// superuser is the role initdb creates; local connections need no password (trust).
const superuser = "postgres"

var (
	mu      sync.Mutex
	running *server // nil until the first Start, and after Stop
	dbs     int     // databases created, to name the next one
)

// server is one running PostgreSQL cluster.
type server struct {
	dir    string    // the cluster's directory: data/, the socket, the log
	cmd    *exec.Cmd // postgres, leader of its own process group
	exited chan struct{}
	admin  *sql.DB // connected to the postgres database, to create and drop the others
}

// Start returns the connection string of a new, empty database on the test binary's server,
// starting the server on first use; the database is dropped when tb's test ends. Start skips
// tb when PostgreSQL is not installed, or fails it if $CI is set.
func Start(tb testing.TB) (dsn string) {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if running == nil {
		bin, err := findBin()
		if err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("%v; CI runs the PostgreSQL tests: install it (apt-get install -y postgresql)", err)
			}
			tb.Skipf("%v: install it (apt-get install -y postgresql, or run scripts/test.sh as root) to run the PostgreSQL tests", err)
		}
		if running, err = start(bin); err != nil {
			tb.Fatalf("start PostgreSQL: %v", err)
		}
	}
	dbs++
	name := fmt.Sprintf("test_%d", dbs)
	// CREATE DATABASE wants no session in its template: nobody ever connects to template0.
	if _, err := running.admin.ExecContext(context.Background(), "CREATE DATABASE "+name+" TEMPLATE template0 STRATEGY file_copy"); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	admin := running.admin
	tb.Cleanup(func() {
		// FORCE ends the sessions a test left open.
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	return connString(running.dir, name)
}

// Stop shuts down the server, if one runs, and removes its cluster. Call it from TestMain after
// m.Run.
func Stop() error {
	mu.Lock()
	defer mu.Unlock()
	if running == nil {
		return nil
	}
	s := running
	running = nil
	return s.stop()
}

// findBin returns the newest directory holding initdb and postgres.
func findBin() (string, error) {
	dirs, _ := filepath.Glob(binGlob)
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		for _, exe := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(d, exe)); err != nil {
				return true
			}
		}
		return false
	})
	if len(dirs) == 0 {
		return "", fmt.Errorf("no PostgreSQL server found (%s/postgres)", binGlob)
	}
	major := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	return slices.MaxFunc(dirs, func(a, b string) int { return major(a) - major(b) }), nil
}

// start makes a cluster in a new temporary directory and runs its server.
func start(bin string) (_ *server, err error) {
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := makeDir()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	// An ICU locale, as most servers have one rather than C: the journal must not depend on the
	// database's collation. --no-sync: the cluster is thrown away.
	initdb := command(cred, dir, filepath.Join(bin, "initdb"), "-D", data, "-U", superuser, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--locale-provider=icu", "--icu-locale=en-US", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	if cred != nil {
		if err := logFile.Chown(int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	// No TCP at all: the socket in dir is the only way in. Durability is not under test.
	// Dynamic shared memory in files under data/, not /dev/shm, so that a killed server leaves
	// nothing behind once dir is removed.
	cmd := command(cred, dir, filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "dynamic_shared_memory_type=mmap", "-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr.Setpgid = true
	// The server dies with the test binary, even one that never calls Stop.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &server{dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		s.stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w; server log:\n%s", err, log)
	}
	s.admin, err = sql.Open("pgx", connString(dir, "postgres"))
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// dirPrefix begins the name of every cluster directory.
const dirPrefix = "pgtest-"

// makeDir makes a cluster's directory: in memory (/dev/shm) where it can, because on disk
// CREATE DATABASE takes ten times as long, even without fsync; else in the temporary directory.
func makeDir() (string, error) {
	var err error
	for _, base := range []string{"/dev/shm", os.TempDir()} {
		sweep(base)
		var dir string
		if dir, err = os.MkdirTemp(base, dirPrefix); err == nil {
			return dir, nil
		}
	}
	return "", err
}

// sweep removes the clusters that test binaries killed before Stop left in base: those more
// than an hour old whose server is gone. (The server of a killed binary dies with it.)
func sweep(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		if pid, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pid), "\n", 2)[0])); err == nil && syscall.Kill(n, 0) != syscall.ESRCH {
				continue
			}
		}
		os.RemoveAll(d)
	}
}

// credential is whom to run initdb and postgres as: they refuse to run as root, so root runs them
// as the postgres system user (which Debian's package creates); anyone else as themselves (nil).
func credential() (*syscall.Credential, error) {
	if os.Getuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root, and there is no postgres user to run it as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func command(cred *syscall.Credential, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir // the postgres user may not be allowed into the test's directory
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd
}

// waitReady polls the server until it accepts a connection, it exits, or readyTimeout passes.
func (s *server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = ping(ctx, connString(s.dir, "postgres"))
		if last == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited before accepting connections (%v)", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections within %s: %w", readyTimeout, last)
		case <-tick.C:
		}
	}
}

func ping(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// stop shuts the server down (fast: sessions are ended), kills its process group if it is still
// there after a while, and removes the cluster.
func (s *server) stop() error {
	if s.admin != nil {
		s.admin.Close()
	}
	pgid := s.cmd.Process.Pid
	syscall.Kill(pgid, syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
	}
	// Backends leave when the postmaster does; any straggler goes with the group.
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill PostgreSQL's processes: %w", err)
	}
	return os.RemoveAll(s.dir)
}

// connString is the key=value connection string of database name on the server in dir.
func connString(dir, name string) string {
	return strings.Join([]string{"host=" + dir, "port=" + strconv.Itoa(port), "user=" + superuser, "dbname=" + name, "sslmode=disable"}, " ")
}
