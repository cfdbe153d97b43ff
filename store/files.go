package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
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

// Put stores the content of r (at most max bytes) as a file, in one transaction. When a file
// with the same SHA-256 is stored already, that file is returned with existed true and
// nothing new is kept.
func (s *Files) Put(ctx context.Context, f *File, r io.Reader, max int64) (*File, bool, error) {
	var sum string
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		f.ID = uuid.New()
		h := sha256.New()
		buf := make([]byte, fileChunk)
		var size int64
		for seq := 0; ; seq++ {
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				size += int64(n)
				if size > max {
					return fmt.Errorf("%w: the file is larger than the limit of %d bytes", ErrTooLarge, max)
				}
				h.Write(buf[:n])
				if _, err := tx.NewRaw("INSERT INTO import_file_chunks (file_id, seq, data) VALUES (?, ?, ?)", f.ID, seq, buf[:n]).Exec(ctx); err != nil {
					return err
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				return err
			}
		}
		sum = hex.EncodeToString(h.Sum(nil))
		var stored bool
		if err := tx.NewRaw("SELECT EXISTS (SELECT 1 FROM import_files WHERE sha256 = ?)", sum).Scan(ctx, &stored); err != nil {
			return err
		}
		if stored {
			return errExisted // the same bytes are stored: this copy is rolled back
		}
		f.Size, f.SHA256 = size, sum
		_, err := tx.NewInsert().Model(f).Exec(ctx)
		return err
	})
	switch {
	case err == nil:
		return f, false, nil
	case errors.Is(err, errExisted), errors.Is(mapError(err), ErrDuplicate):
		// Stored before, or by a concurrent upload of the same bytes.
		var prev File
		if err := s.db.NewSelect().Model(&prev).Where("f.sha256 = ?", sum).Scan(ctx); err != nil {
			return nil, false, mapError(err)
		}
		return &prev, true, nil
	}
	return nil, false, mapError(err)
}

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
