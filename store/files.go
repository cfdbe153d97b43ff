package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
)

// fileChunk is the size of one stored chunk of an import file.
const fileChunk = 1 << 20

// Files holds the files uploaded for the XML file imports.
type Files struct{ db bun.IDB }

// File is an uploaded file's description.
type File struct {
	bun.BaseModel `bun:"table:import_files,alias:f"`

	ID          uuid.UUID `bun:"id,pk,type:uuid"`
	Name        string    `bun:"name,notnull"`
	Size        int64     `bun:"size,notnull"`
	SHA256      string    `bun:"sha256,notnull"`
	ContentType string    `bun:"content_type,notnull"`
	CreatedBy   string    `bun:"created_by,notnull"`
	CreatedAt   time.Time `bun:"created_at,notnull"`
}

// ErrTooLarge is returned when an upload is larger than its limit; nothing was stored.
var ErrTooLarge = errors.New("too large")

// Put stores the content of r (at most max bytes) as a file, in one transaction: the chunks
// are streamed with COPY, the file's row with its size and SHA-256 is written last. When a
// file with the same SHA-256 is stored already, that file is returned with existed true and
// nothing new is kept.
func (s *Files) Put(ctx context.Context, f *File, r io.Reader, max int64) (*File, bool, error) {
	db, ok := s.db.(*bun.DB)
	if !ok {
		return nil, false, errors.New("files: Put needs the database, not a transaction")
	}
	f.ID = uuid.New()
	src := &chunkSource{r: r, id: f.ID, h: sha256.New(), buf: make([]byte, fileChunk), max: max, seq: -1}
	err := withPgx(ctx, db, "files", func(pc *pgx.Conn) error {
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_file_chunks"}, []string{"file_id", "seq", "data"}, src); err != nil {
			if src.err != nil {
				return src.err
			}
			return err
		}
		src.sum = hex.EncodeToString(src.h.Sum(nil))
		var stored bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM import_files WHERE sha256 = $1)", src.sum).Scan(&stored); err != nil {
			return err
		}
		if stored {
			return errExisted // the same bytes are stored: this copy is rolled back
		}
		f.Size, f.SHA256 = src.size, src.sum
		if _, err := tx.Exec(ctx, `INSERT INTO import_files (id, name, size, sha256, content_type, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, f.ID, f.Name, f.Size, f.SHA256, f.ContentType, f.CreatedBy, f.CreatedAt); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	switch {
	case err == nil:
		return f, false, nil
	case errors.Is(err, errExisted), errors.Is(mapError(err), ErrDuplicate):
		// Stored before, or by a concurrent upload of the same bytes.
		var prev File
		if err := s.db.NewSelect().Model(&prev).Where("f.sha256 = ?", src.sum).Scan(ctx); err != nil {
			return nil, false, mapError(err)
		}
		return &prev, true, nil
	}
	return nil, false, mapError(err)
}

// chunkSource feeds COPY with the chunks of a file as they are read, hashing them.
type chunkSource struct {
	r    io.Reader
	id   uuid.UUID
	h    hash.Hash
	buf  []byte
	n    int
	seq  int
	size int64
	max  int64
	err  error
	done bool
	sum  string
}

func (c *chunkSource) Next() bool {
	if c.done || c.err != nil {
		return false
	}
	n, err := io.ReadFull(c.r, c.buf)
	if n > 0 {
		c.size += int64(n)
		if c.size > c.max {
			c.err = fmt.Errorf("%w: the file is larger than the limit of %d bytes", ErrTooLarge, c.max)
			return false
		}
		c.h.Write(c.buf[:n])
		c.n, c.seq = n, c.seq+1
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		c.done = true
	case err != nil:
		c.err = err
		return false
	}
	return n > 0
}

func (c *chunkSource) Values() ([]any, error) { return []any{c.id, c.seq, c.buf[:c.n]}, nil }

func (c *chunkSource) Err() error { return c.err }

var errExisted = errors.New("the file is stored already")

// Get returns a file's description, or ErrNotFound.
func (s *Files) Get(ctx context.Context, id uuid.UUID) (*File, error) {
	var f File
	if err := s.db.NewSelect().Model(&f).Where("f.id = ?", id).Scan(ctx); err != nil {
		return nil, mapError(err)
	}
	return &f, nil
}

// List returns the files, newest first.
func (s *Files) List(ctx context.Context, limit int) ([]File, error) {
	if limit <= 0 {
		limit = 50
	}
	var out []File
	err := s.db.NewSelect().Model(&out).OrderExpr("f.created_at DESC, f.id").Limit(int64(limit)).Scan(ctx)
	if out == nil {
		out = []File{}
	}
	return out, mapError(err)
}

// Delete removes a file and its content, or returns ErrNotFound.
func (s *Files) Delete(ctx context.Context, id uuid.UUID) error {
	res, err := s.db.NewDelete().Model((*File)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Open returns a reader of a file's content, reading it chunk by chunk as it is consumed.
func (s *Files) Open(ctx context.Context, id uuid.UUID) (io.ReadCloser, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	return &fileReader{ctx: ctx, db: s.db, id: id}, nil
}

type fileReader struct {
	ctx  context.Context
	db   bun.IDB
	id   uuid.UUID
	seq  int
	data []byte
	done bool
}

func (r *fileReader) Read(p []byte) (int, error) {
	for len(r.data) == 0 {
		if r.done {
			return 0, io.EOF
		}
		err := r.db.NewRaw("SELECT data FROM import_file_chunks WHERE file_id = ? AND seq = ?", r.id, r.seq).Scan(r.ctx, &r.data)
		if errors.Is(err, sql.ErrNoRows) {
			r.done = true
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read file %s chunk %d: %w", r.id, r.seq, err)
		}
		r.seq++
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func (r *fileReader) Close() error { return nil }
