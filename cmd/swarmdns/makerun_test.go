package main

import (
	"bufio"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swarmdns/swarmdns/internal/freeport"
)

// TestMakeRunServesWhereItSaysAndItsDigLineAnswers runs the real `make run`
// with LISTEN and HTTP_LISTEN on free ports, then the dig line it prints
// with the real dig (Debian's dnsutils, which .ci/run installs), and GETs
// /readyz on the HTTP address it prints.
func TestMakeRunServesWhereItSaysAndItsDigLineAnswers(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Fatalf("dig not found (Debian package dnsutils): %v", err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(int(freeport.Loopback(t)))
	httpListen := "127.0.0.1:" + strconv.Itoa(int(freeport.Loopback(t)))
	cmd := exec.Command("make", "--no-print-directory", "-C", "../..", "run", "LISTEN="+listen, "HTTP_LISTEN="+httpListen)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // make and swarmdns stop together
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "swarmdns: ") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(3 * time.Minute): // make builds bin/swarmdns first
		t.Fatal("make run printed no swarmdns line")
	}
	want := "swarmdns: DNS on " + listen + " (UDP and TCP), HTTP on " + httpListen + "; try: dig @127.0.0.1 -p " + strings.TrimPrefix(listen, "127.0.0.1:") + " web"
	if line != want {
		t.Fatalf("make run printed\n%q, want\n%q", line, want)
	}
	digArgs := append(strings.Fields(line[strings.Index(line, "try: dig ")+len("try: dig "):]), "+short", "+tries=1", "+time=1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := exec.Command(dig, digArgs...).Output()
		if err == nil && strings.TrimSpace(string(got)) == "10.0.1.2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dig %s: %v %q, want the VIP of web, 10.0.1.2", strings.Join(digArgs, " "), err, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get("http://" + httpListen + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz on the printed HTTP address: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz: %s", resp.Status)
	}
}
