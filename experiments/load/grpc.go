package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aftershock/aftershock/injectors/httpfault"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// GRPCCall is a gRPC method a load calls, with the request it sends: a
// unary method, or a server-streaming one whose stream is read to its end
// (the call's latency is the whole stream's). The method's types come from
// a descriptor set file or, without one, from the server's reflection
// service: nothing is generated or compiled in.
type GRPCCall struct {
	// Method is the full method name, "/package.Service/Method".
	Method string
	// Message is the request in protobuf's JSON form ("" sends an empty
	// message).
	Message string
	// DescriptorSet is a FileDescriptorSet file (protoc
	// --descriptor_set_out --include_imports) holding the method; empty
	// asks the server's reflection.
	DescriptorSet string
	// Metadata is sent with every call.
	Metadata map[string]string
}

// grpcCaller calls the methods of a load, round-robin, with dynamic
// messages, over one client connection.
type grpcCaller struct {
	addr    string
	methods []*grpcMethod
	next    atomic.Uint64
	mu      sync.Mutex
	cc      *grpc.ClientConn // nil while paused
	timeout time.Duration
}

// grpcMethod is one method of the mix, resolved.
type grpcMethod struct {
	name   string
	stream bool // server-streaming
	req    proto.Message
	out    protoreflect.MessageDescriptor
	md     metadata.MD
}

func newGRPCCaller(cfg Config) (*grpcCaller, error) {
	u, _ := url.Parse(cfg.Target) // checked by setDefaults
	c := &grpcCaller{addr: u.Host, timeout: cfg.Timeout}
	for _, call := range cfg.GRPC {
		m, err := c.resolve(call)
		if err != nil {
			return nil, err
		}
		c.methods = append(c.methods, m)
	}
	return c, nil
}

// resolve finds a method's types and reads its request.
func (c *grpcCaller) resolve(call GRPCCall) (*grpcMethod, error) {
	service, method, err := httpfault.ParseMethod(call.Method)
	if err != nil {
		return nil, fmt.Errorf("load: grpc method: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	files, err := c.descriptors(ctx, &call, service)
	if err != nil {
		return nil, err
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil, fmt.Errorf("load: grpc service %s: %w", service, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("load: %s is not a service", service)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, fmt.Errorf("load: service %s has no method %s", service, method)
	}
	if md.IsStreamingClient() {
		return nil, fmt.Errorf("load: %s streams from the client; the steady load calls unary and server-streaming methods", call.Method)
	}
	req := dynamicpb.NewMessage(md.Input())
	if call.Message != "" {
		if err := protojson.Unmarshal([]byte(call.Message), req); err != nil {
			return nil, fmt.Errorf("load: grpc message for %s (%s): %w", call.Method, md.Input().FullName(), err)
		}
	}
	return &grpcMethod{name: call.Method, stream: md.IsStreamingServer(), req: req, out: md.Output(), md: metadata.New(call.Metadata)}, nil
}

// descriptors reads the files that define service: from the descriptor
// set, or from the server's reflection (v1).
func (c *grpcCaller) descriptors(ctx context.Context, call *GRPCCall, service string) (*protoregistry.Files, error) {
	set := &descriptorpb.FileDescriptorSet{}
	if call.DescriptorSet != "" {
		data, err := os.ReadFile(call.DescriptorSet)
		if err != nil {
			return nil, fmt.Errorf("load: grpc descriptor set: %w", err)
		}
		if err := proto.Unmarshal(data, set); err != nil {
			return nil, fmt.Errorf("load: grpc descriptor set %s: %w", call.DescriptorSet, err)
		}
	} else {
		files, err := c.reflect(ctx, service)
		if err != nil {
			return nil, fmt.Errorf("load: grpc reflection of %s at %s (serve it, or give a descriptor set): %w", service, c.addr, err)
		}
		set.File = files
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("load: grpc descriptors of %s: %w", service, err)
	}
	return files, nil
}

// reflect asks the server for the file that defines symbol and, one by
// one, the files it imports.
func (c *grpcCaller) reflect(ctx context.Context, symbol string) ([]*descriptorpb.FileDescriptorProto, error) {
	cc, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	stream, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	defer stream.CloseSend()
	var out []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	ask := func(req *reflectionpb.ServerReflectionRequest) error {
		if err := stream.Send(req); err != nil {
			return err
		}
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if e := resp.GetErrorResponse(); e != nil {
			return fmt.Errorf("reflection: %s", e.GetErrorMessage())
		}
		for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
			fd := &descriptorpb.FileDescriptorProto{}
			if err := proto.Unmarshal(b, fd); err != nil {
				return err
			}
			if !seen[fd.GetName()] {
				seen[fd.GetName()] = true
				out = append(out, fd)
			}
		}
		return nil
	}
	if err := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol}}); err != nil {
		return nil, err
	}
	for i := 0; i < len(out); i++ {
		for _, dep := range out[i].GetDependency() {
			if seen[dep] {
				continue
			}
			if err := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileByFilename{FileByFilename: dep}}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// conn is the client connection of the load, dialled when the load
// starts and closed when it pauses, so that a quiet service holds none of
// its connections.
func (c *grpcCaller) conn() (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc == nil {
		cc, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		c.cc = cc
	}
	return c.cc, nil
}

func (c *grpcCaller) closeConn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc != nil {
		c.cc.Close()
		c.cc = nil
	}
}

// call makes the next call of the mix and says what it got: the status
// code (0 is OK), and whether it failed.
func (c *grpcCaller) call(ctx context.Context, cc *grpc.ClientConn) result {
	m := c.methods[int(c.next.Add(1)-1)%len(c.methods)]
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, m.md), c.timeout)
	defer cancel()
	start := time.Now()
	var err error
	if m.stream {
		err = readStream(ctx, cc, m)
	} else {
		err = cc.Invoke(ctx, m.name, m.req, dynamicpb.NewMessage(m.out))
	}
	return result{at: start, latency: time.Since(start), code: uint16(status.Code(err)), err: err != nil}
}

// readStream calls a server-streaming method and reads its stream to the
// end.
func readStream(ctx context.Context, cc *grpc.ClientConn, m *grpcMethod) error {
	s, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, m.name)
	if err != nil {
		return err
	}
	if err := s.SendMsg(m.req); err != nil {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	for {
		if err := s.RecvMsg(dynamicpb.NewMessage(m.out)); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// attack calls the methods at the configured rate, at most MaxInFlight at
// once, passing each result to add, until the returned stop is called;
// done is closed once every call in flight has returned.
//
// Calls are paced by the time since the start, not by a ticker: a load
// that fell behind (a busy machine, every slot taken by calls the service
// holds) catches up rather than silently running below its rate. While
// every slot is taken the next call waits for one, as vegeta's requests
// wait for a worker: the calls made are the calls timed.
func (c *grpcCaller) attack(cfg Config, add func(result), done chan struct{}) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		defer wg.Wait()
		slots := make(chan struct{}, cfg.MaxInFlight)
		interval := time.Second / time.Duration(cfg.Rate)
		start := time.Now()
		timer := time.NewTimer(0)
		defer timer.Stop()
		for n := 0; ; n++ {
			if wait := time.Until(start.Add(time.Duration(n) * interval)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
			select {
			case <-ctx.Done():
				return
			case slots <- struct{}{}:
			}
			cc, err := c.conn()
			if err != nil {
				<-slots
				add(result{at: time.Now(), err: true, code: uint16(codes.Unavailable)})
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				// A call in flight when the load pauses runs to its end
				// (its timeout bounds it), as vegeta's requests do.
				add(c.call(context.Background(), cc))
			})
		}
	}()
	return cancel
}
