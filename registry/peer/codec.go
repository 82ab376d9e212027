package peer

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec wrapped below
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/swarmdns/swarmdns/registry/peer/peerpb"
)

// encoded is a ManagerMessage already marshalled: a change is encoded once
// and the same bytes go to every follower.
type encoded []byte

// encode marshals m; it fails only on a string that is not UTF-8, which
// the protocol's string fields cannot carry.
func encode(m *peerpb.ManagerMessage) (encoded, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode registry message: %w", err)
	}
	return b, nil
}

// codec is the server's codec: the standard proto codec, except that an
// encoded message is written as it is.
type codec struct{ proto encoding.CodecV2 }

func newCodec() codec { return codec{proto: encoding.GetCodecV2("proto")} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(encoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (c codec) Name() string { return "proto" }
