package transfer_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/swarmdns/swarmdns/internal/freeport"
	"github.com/swarmdns/swarmdns/internal/secondary"
	"github.com/swarmdns/swarmdns/server/transfer"
)

var reverseZone = "10.in-addr.arpa."

// ixfrLogged says whether a server's log shows it took serial by IXFR.
// NSD does not name the transfer type: it logs the size of the update,
// which for an IXFR is well under the zone's.
func ixfrLogged(k secondary.Kind, log string, serial uint32, zoneBytes int) bool {
	switch k {
	case secondary.Knot:
		return regexp.MustCompile(`IXFR, incoming, remote .*, finished`).MatchString(log)
	case secondary.BIND:
		return regexp.MustCompile(`requesting IXFR`).MatchString(log) &&
			regexp.MustCompile(fmt.Sprintf(`Transfer completed: .*\(serial %d\)`, serial)).MatchString(log)
	}
	m := regexp.MustCompile(fmt.Sprintf(`received update to serial %d at .* of (\d+) bytes`, serial)).FindStringSubmatch(log)
	if m == nil {
		return false
	}
	n, _ := strconv.Atoi(m[1])
	return n < zoneBytes/2
}

// TestRealSecondariesTransferTheZone drives real Knot, NSD and BIND
// (Debian knot, nsd, bind9) as secondaries of a swarmdns on loopback:
// each takes the domain and a reverse zone by AXFR and answers every
// transferred name as swarmdns does; a registry file change reaches each
// by NOTIFY and IXFR; each keeps answering once swarmdns is gone.
func TestRealSecondariesTransferTheZone(t *testing.T) {
	file := copyRegistry(t)
	ports := map[secondary.Kind]uint16{}
	var notify []netip.AddrPort
	for _, k := range secondary.Kinds {
		ports[k] = freeport.Loopback(t)
		notify = append(notify, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ports[k]))
	}
	p := startPrimary(t, file, transfer.Config{
		Allow:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Reverse: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Notify:  notify, NotifyInterval: 100 * time.Millisecond,
	})
	zones := []string{domain, reverseZone}
	secs := map[secondary.Kind]*secondary.Secondary{}
	for _, k := range secondary.Kinds {
		secs[k] = secondary.Start(t, secondary.Config{Kind: k, Primary: p.addr, Zones: zones, Port: ports[k]})
	}
	serial := p.serial(t)
	for _, k := range secondary.Kinds {
		for _, z := range zones {
			if err := secs[k].WaitSerial(z, soaSerial(t, p.addr.String(), z), 15*time.Second); err != nil {
				t.Fatalf("%v\n%s", err, secs[k].Log())
			}
		}
	}
	compare := func(when string) {
		for _, z := range zones {
			rrs := axfr(t, p.addr.String(), z, nil)
			for _, k := range secondary.Kinds {
				for _, q := range questions(rrs) {
					qt := dns.StringToType[q[1]]
					want := answerSet(t, p.addr.String(), q[0], qt)
					got := answerSet(t, secs[k].Addr.String(), q[0], qt)
					if strings.Join(got, "\n") != strings.Join(want, "\n") {
						t.Errorf("%s: %s %s %s:\n got %q\nwant %q", when, k, q[0], q[1], got, want)
					}
				}
			}
		}
	}
	compare("after AXFR")
	checkZoneFile(t, secs[secondary.Knot].ZoneFile(domain), domain)

	scaleUp(t, file)
	deadline := time.Now().Add(5 * time.Second)
	for p.serial(t) == serial {
		if time.Now().After(deadline) {
			t.Fatal("the registry change did not change the serial")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, k := range secondary.Kinds {
		// Well before the 300 s refresh: NOTIFY brought it.
		for _, z := range zones {
			if err := secs[k].WaitSerial(z, soaSerial(t, p.addr.String(), z), 10*time.Second); err != nil {
				t.Fatalf("%v\n%s", err, secs[k].Log())
			}
		}
		if !ixfrLogged(k, secs[k].Log(), p.serial(t), zoneBytes(t, p.addr.String(), domain)) {
			t.Errorf("%s took the change, but not by IXFR as far as its log says:\n%s", k, secs[k].Log())
		}
	}
	compare("after the registry change")

	p.stop()
	for _, k := range secondary.Kinds {
		got := answerSet(t, secs[k].Addr.String(), "tasks.web."+domain, dns.TypeA)
		if got[0] != "NOERROR" || len(got) != 5 {
			t.Errorf("%s without its primary answers tasks.web %q, want the 4 tasks", k, got)
		}
	}
}

// TestRealSecondariesNeedTheTSIGKey: with a TSIG key required, a Knot,
// NSD or BIND secondary with the key gets the zone, one without is
// refused and has none.
func TestRealSecondariesNeedTheTSIGKey(t *testing.T) {
	secret := "c3dhcm1kbnMgdGVzdCBrZXkgc2VjcmV0IDMyIGJ5dGVzIQ=="
	keyFile := t.TempDir() + "/xfr.key"
	if err := os.WriteFile(keyFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := transfer.ParseKey("xfr-key:hmac-sha256:" + keyFile)
	if err != nil {
		t.Fatal(err)
	}
	p := startPrimary(t, copyRegistry(t), transfer.Config{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Keys: []transfer.Key{key},
	})
	serial := p.serial(t)
	for _, k := range secondary.Kinds {
		t.Run(string(k), func(t *testing.T) {
			with := secondary.Start(t, secondary.Config{Kind: k, Primary: p.addr, Zones: []string{domain},
				Key: &secondary.Key{Name: "xfr-key", Algorithm: "hmac-sha256", Secret: secret}})
			without := secondary.Start(t, secondary.Config{Kind: k, Primary: p.addr, Zones: []string{domain}})
			if err := with.WaitSerial(domain, serial, 15*time.Second); err != nil {
				t.Fatalf("%v\n%s", err, with.Log())
			}
			// By then the one without the key has asked as well.
			time.Sleep(500 * time.Millisecond)
			if s, err := without.Serial(domain); err == nil {
				t.Fatalf("%s without the key serves serial %d", k, s)
			}
		})
	}
}

// checkZoneFile runs Knot's zone checker (kzonecheck, or knotc
// zone-check where knot-dnssecutils is not installed) and BIND's
// named-checkzone on a transferred zone file.
func checkZoneFile(t *testing.T, path, zone string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no transferred zone file: %v", err)
	}
	var knot *exec.Cmd
	if kz, err := exec.LookPath("kzonecheck"); err == nil {
		knot = exec.Command(kz, "-o", zone, path)
	} else {
		conf := t.TempDir() + "/check.conf"
		os.WriteFile(conf, []byte("template:\n  - id: default\n    semantic-checks: on\nzone:\n  - domain: "+zone+"\n    file: "+path+"\n"), 0o644)
		knot = exec.Command("/usr/sbin/knotc", "-c", conf, "zone-check", zone)
	}
	if out, err := knot.CombinedOutput(); err != nil || strings.Contains(strings.ToLower(string(out)), "error") {
		t.Errorf("%s finds errors in the transferred zone: %v\n%s", knot.Args[0], err, out)
	}
	out, err := exec.Command("named-checkzone", "-k", "fail", "-n", "fail", "-M", "fail", "-S", "fail", zone, path).CombinedOutput()
	if err != nil {
		t.Errorf("named-checkzone rejects the transferred zone: %v\n%s", err, out)
	}
}
