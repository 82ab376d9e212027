package transfer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The serial of a zone changes when, and only when, its records change:
// it is the time in Unix seconds, or one past the last serial when that
// is not greater in RFC 1982 arithmetic. The state file keeps each zone's
// last serial and the hash of its records, so a restart neither goes back
// nor counts up for a zone that did not change.
//
// The hash of a zone's records (setHash) is a sum over its distinct
// records, so that a version derived from the last one (layered.go) gets
// it from the last one's and the difference, and a version computed from
// the whole snapshot gets the same.

// serialLess reports whether a < b in RFC 1982 serial arithmetic.
func serialLess(a, b uint32) bool {
	return a != b && int32(b-a) > 0
}

// nextSerial returns the serial after last, at time now.
func nextSerial(last uint32, now time.Time) uint32 {
	if t := uint32(now.Unix()); serialLess(last, t) {
		return t
	}
	return last + 1
}

// setHash is the hash of a set of records: four sums, each over the
// records' 64-bit hashes mixed another way.
type setHash [4]uint64

// mix is the finalizer of splitmix64, of x and lane k.
func mix(x uint64, k int) uint64 {
	x += uint64(k+1) * 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (s *setHash) add(h uint64) {
	for k := range s {
		s[k] += mix(h, k)
	}
}

func (s *setHash) remove(h uint64) {
	for k := range s {
		s[k] -= mix(h, k)
	}
}

// String is the hash in hexadecimal, for the state file.
func (s setHash) String() string {
	var b [32]byte
	for k, v := range s {
		binary.BigEndian.PutUint64(b[8*k:], v)
	}
	return hex.EncodeToString(b[:])
}

// zoneState is what the state file keeps of one zone: the serial and the
// hash of its records (Records); SHA256 is the hash a state file written
// by an earlier swarmdns has instead, read and never written.
type zoneState struct {
	Serial  uint32 `json:"serial"`
	Records string `json:"records,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
}

// matches reports whether the state is of records r, with either hash.
func (st zoneState) matches(r *records) bool {
	if st.Records != "" {
		return st.Records == r.sum.String()
	}
	return st.SHA256 != "" && st.SHA256 == legacyHash(r)
}

// legacyHash is the hash an earlier swarmdns kept: the SHA-256 of the
// distinct records' 64-bit hashes in order.
func legacyHash(r *records) string {
	h := sha256.New()
	buf := make([]byte, 0, 8*1024)
	for _, x := range r.byHash {
		buf = binary.BigEndian.AppendUint64(buf, x.h)
		if len(buf) == cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

type stateFile struct {
	Zones map[string]zoneState `json:"zones"`
}

// readState reads the state file; a missing file is an empty state.
func readState(path string) (map[string]zoneState, error) {
	if path == "" {
		return map[string]zoneState{}, nil
	}
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]zoneState{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read transfer state %s: %w", path, err)
	}
	var st stateFile
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("read transfer state %s: not a state file: %w", path, err)
	}
	if st.Zones == nil {
		st.Zones = map[string]zoneState{}
	}
	return st.Zones, nil
}

// writeState replaces the state file atomically.
func writeState(path string, zones map[string]zoneState) error {
	raw, err := json.MarshalIndent(stateFile{Zones: zones}, "", "  ")
	if err != nil {
		return fmt.Errorf("write transfer state %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write transfer state %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write transfer state %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write transfer state %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write transfer state %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write transfer state %s: %w", path, err)
	}
	return nil
}
