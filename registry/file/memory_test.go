package file

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/swarmdns/swarmdns/internal/benchdata"
	"github.com/swarmdns/swarmdns/registry"
)

// Peak memory is a process's: BenchmarkLoadLarge runs each load in a
// fresh process (this test binary again, with loadMemFileEnv set) and
// reads its /proc/self/status.
const (
	loadMemFileEnv    = "SWARMDNS_LOADMEM_FILE"
	loadMemDecoderEnv = "SWARMDNS_LOADMEM_DECODER"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(loadMemFileEnv); path != "" {
		os.Exit(loadMemChild(path, os.Getenv(loadMemDecoderEnv)))
	}
	os.Exit(m.Run())
}

// loadMem is what one load measured, in bytes.
type loadMem struct {
	PeakLoad uint64 // VmHWM once the file is Data
	Steady   uint64 // VmRSS with the snapshot built and garbage returned
	PeakAll  uint64 // VmHWM at the end: loading and the first build
}

// loadMemChild loads path with decoder "parts" (Load) or "whole" (the
// whole file decoded at once, as before), builds its snapshot, and prints
// what it measured.
func loadMemChild(path, decoder string) int {
	var (
		d   *registry.Data
		err error
	)
	switch decoder {
	case "parts":
		d, err = Load(path)
	case "whole":
		var raw []byte
		if raw, err = os.ReadFile(path); err == nil {
			var f fileRegistry
			if f, err = decodeWhole(raw); err == nil {
				v := newValidator(path, nil)
				d = v.data(&f)
			}
		}
	default:
		err = fmt.Errorf("decoder %q: want parts or whole", decoder)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var m loadMem
	m.PeakLoad = procStatus("VmHWM")
	l := logrus.New()
	l.SetOutput(io.Discard)
	st, err := registry.NewStore(registry.Config{Domain: benchdata.Domain}, logrus.NewEntry(l))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st.Update(d)
	d = nil
	runtime.GC()
	debug.FreeOSMemory()
	m.Steady, m.PeakAll = procStatus("VmRSS"), procStatus("VmHWM")
	runtime.KeepAlive(st)
	if err := json.NewEncoder(os.Stdout).Encode(m); err != nil {
		return 1
	}
	return 0
}

// procStatus reads a size field (kB) of /proc/self/status, in bytes.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

var (
	largeFileOnce sync.Once
	largeFile     string
	largeFileErr  error
)

// largeRegistryFile writes the large benchmark registry with
// scripts/genregistry, once per run.
func largeRegistryFile(b *testing.B) string {
	largeFileOnce.Do(func() {
		dir, err := os.MkdirTemp("", "swarmdns-loadmem")
		if err != nil {
			largeFileErr = err
			return
		}
		out, err := exec.Command("go", "run", "github.com/swarmdns/swarmdns/scripts/genregistry", "-size", "large", "-out", dir).CombinedOutput()
		if err != nil {
			largeFileErr = fmt.Errorf("genregistry: %v: %s", err, out)
			return
		}
		largeFile = filepath.Join(dir, "registry.yaml")
	})
	if largeFileErr != nil {
		b.Fatal(largeFileErr)
	}
	return largeFile
}

// BenchmarkLoadLarge is the memory of loading the large registry file
// (10,000 services × 10 tasks, 9.9 MB) in a fresh process: peak-load-MB
// once it is Data, steady-MB with its snapshot built (what a server keeps)
// and peak/steady. parts is Load; whole, its peer in the same run, decodes
// the whole file at once as Load did before decodeInParts.
func BenchmarkLoadLarge(b *testing.B) {
	path := largeRegistryFile(b)
	for _, decoder := range []string{"whole", "parts"} {
		b.Run(decoder, func(b *testing.B) {
			var m loadMem
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), loadMemFileEnv+"="+path, loadMemDecoderEnv+"="+decoder)
				cmd.Stderr = os.Stderr
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("load in a fresh process: %v", err)
				}
				if err := json.Unmarshal(out, &m); err != nil {
					b.Fatalf("load in a fresh process: %v: %q", err, out)
				}
			}
			b.ReportMetric(float64(m.PeakLoad)/(1<<20), "peak-load-MB")
			b.ReportMetric(float64(m.PeakAll)/(1<<20), "peak-MB")
			b.ReportMetric(float64(m.Steady)/(1<<20), "steady-MB")
			b.ReportMetric(float64(m.PeakAll)/float64(m.Steady), "peak/steady")
		})
	}
}
