package transfer

import (
	"crypto/sha256"
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

// zoneState is what the state file keeps of one zone.
type zoneState struct {
	Serial uint32 `json:"serial"`
	SHA256 string `json:"sha256"`
}

type stateFile struct {
	Zones map[string]zoneState `json:"zones"`
}

func hashString(h [sha256.Size]byte) string { return hex.EncodeToString(h[:]) }

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
