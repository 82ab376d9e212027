package transfer

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Key is a TSIG key (RFC 8945).
type Key struct {
	Name      string // lower-case FQDN
	Algorithm string // dns.HmacSHA256, dns.HmacSHA384 or dns.HmacSHA512
	secret    []byte
}

// Secret returns the key's secret in base64, as miekg/dns takes it.
func (k *Key) Secret() string { return base64.StdEncoding.EncodeToString(k.secret) }

var algorithms = map[string]string{
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

// ParseKey reads a --tsig-key value, name:algorithm:secret-file, where
// the file holds the base64 secret.
func ParseKey(v string) (Key, error) {
	parts := strings.SplitN(v, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return Key{}, fmt.Errorf("--tsig-key %q: want name:algorithm:secret-file", v)
	}
	alg, ok := algorithms[strings.ToLower(strings.TrimSuffix(parts[1], "."))]
	if !ok {
		return Key{}, fmt.Errorf("--tsig-key %q: algorithm %q is not one of hmac-sha256, hmac-sha384, hmac-sha512", v, parts[1])
	}
	name := strings.ToLower(dns.Fqdn(parts[0]))
	if _, ok := dns.IsDomainName(name); !ok {
		return Key{}, fmt.Errorf("--tsig-key %q: %q is not a key name", v, parts[0])
	}
	raw, err := os.ReadFile(parts[2])
	if err != nil {
		return Key{}, fmt.Errorf("--tsig-key %s: read secret: %w", parts[0], err)
	}
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(secret) == 0 {
		return Key{}, fmt.Errorf("--tsig-key %s: secret file %s does not hold a base64 secret", parts[0], parts[2])
	}
	return Key{Name: name, Algorithm: alg, secret: secret}, nil
}

func (k *Key) hash() hash.Hash {
	switch k.Algorithm {
	case dns.HmacSHA384:
		return hmac.New(sha512.New384, k.secret)
	case dns.HmacSHA512:
		return hmac.New(sha512.New, k.secret)
	}
	return hmac.New(sha256.New, k.secret)
}

const tsigFudge = 300

// signer signs the messages of one reply stream with the key of the
// request: the first message over the request's MAC and every TSIG
// variable, each next one over the previous MAC and the timers only
// (RFC 8945 section 5.3.1).
type signer struct {
	key  *Key
	mac  []byte // the previous MAC: the request's at first
	next bool
	// err and other are the TSIG error and other data of an error reply.
	err   uint16
	other []byte
}

// sign appends the TSIG record to msg, a complete message whose ID is
// the request's, and counts it in ARCOUNT.
func (s *signer) sign(msg []byte, now time.Time) []byte {
	h := s.key.hash()
	var u16 [2]byte
	if len(s.mac) > 0 {
		binary.BigEndian.PutUint16(u16[:], uint16(len(s.mac)))
		h.Write(u16[:])
		h.Write(s.mac)
	}
	h.Write(msg)
	name := appendWireName(nil, s.key.Name)
	alg := appendWireName(nil, s.key.Algorithm)
	t := uint64(now.Unix())
	timers := []byte{byte(t >> 40), byte(t >> 32), byte(t >> 24), byte(t >> 16), byte(t >> 8), byte(t), tsigFudge >> 8, tsigFudge & 0xFF}
	if s.next {
		h.Write(timers)
	} else {
		h.Write(name)
		h.Write([]byte{0, 255, 0, 0, 0, 0}) // class ANY, TTL 0
		h.Write(alg)
		h.Write(timers)
		h.Write([]byte{byte(s.err >> 8), byte(s.err), byte(len(s.other) >> 8), byte(len(s.other))})
		h.Write(s.other)
	}
	mac := h.Sum(nil)
	rdata := append(alg, timers...)
	rdata = append(rdata, byte(len(mac)>>8), byte(len(mac)))
	rdata = append(rdata, mac...)
	rdata = append(rdata, msg[0], msg[1], byte(s.err>>8), byte(s.err), byte(len(s.other)>>8), byte(len(s.other)))
	rdata = append(rdata, s.other...)
	msg = append(msg, name...)
	msg = append(msg, 0, byte(dns.TypeTSIG), 0, 255, 0, 0, 0, 0, byte(len(rdata)>>8), byte(len(rdata)))
	msg = append(msg, rdata...)
	binary.BigEndian.PutUint16(msg[10:], binary.BigEndian.Uint16(msg[10:])+1)
	s.mac, s.next = mac, true
	return msg
}
