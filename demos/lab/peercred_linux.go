package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/sockets"
)

// PeerCredParams are the peercred lab's parameters.
type PeerCredParams struct {
	// UID (and gid) of the client started as another user; needs root.
	UID int `json:"uid"`
}

// PeerCredRow is one client's connection.
type PeerCredRow struct {
	Client string `json:"client"` // "same user" or "another user"
	// What the client says about itself.
	ClientPID int `json:"client_pid"`
	ClientUID int `json:"client_uid"`
	ClientGID int `json:"client_gid"`
	// What the kernel told the server (SO_PEERCRED).
	PeerPID     int    `json:"peer_pid"`
	PeerUID     int    `json:"peer_uid"`
	PeerGID     int    `json:"peer_gid"`
	CredMatches bool   `json:"cred_matches"` // the kernel's answer is the client's identity
	Decision    string `json:"decision"`     // "served" or "refused"
	Reply       string `json:"reply"`        // what the client received
	Expected    string `json:"expected"`
	Matches     bool   `json:"matches"`
	Skipped     string `json:"skipped,omitempty"`
}

// PeerCredResult is the peercred lab's document.
type PeerCredResult struct {
	Header
	Addr      string        `json:"addr"`
	ServerPID int           `json:"server_pid"`
	ServerUID int           `json:"server_uid"`
	Rule      string        `json:"rule"`
	Rows      []PeerCredRow `json:"rows"`
}

var peerCredLab = Info{
	Name:    "peercred",
	Summary: "a server learns who connected (pid, uid, gid via SO_PEERCRED) and refuses another uid",
	Example: "ipcplay demo peercred --uid 65534",
	Flags: []Flag{
		{Name: "uid", Usage: "uid (and gid) of the client run as another user (needs root)", Default: 65534},
	},
	Experiment: ipc.Experiment{Name: ExperimentPrefix + "peercred", Validate: validatePeerCred, Run: runPeerCred},
}

type peerClientOut struct {
	PID   int    `json:"pid"`
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	Reply string `json:"reply"`
}

const peerTimeout = 10 * time.Second

func init() {
	worker.Register("lab-peercred-client", peerClient)
	renderers["peercred"] = renderPeerCred
}

func peerCredParams(raw json.RawMessage) (PeerCredParams, error) {
	p := PeerCredParams{UID: 65534}
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	return p, checkInt("uid", p.UID, 1, 1<<31-2)
}

func validatePeerCred(raw json.RawMessage, lim ipc.Limits) error {
	_, err := peerCredParams(raw)
	return err
}

// peerAllowed is the daemon's rule: serve the server's own user, or root.
func peerAllowed(serverUID int, peer sockets.Cred) bool {
	return peer.UID == serverUID || peer.UID == 0
}

func runPeerCred(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	p, err := peerCredParams(raw)
	if err != nil {
		return nil, err
	}
	me := os.Geteuid()
	res := &PeerCredResult{
		Header: newHeader("peercred", "When a process connects to a Unix socket, the kernel records its pid, uid and gid, and the server reads them with getsockopt(SO_PEERCRED): the client cannot lie about them. "+
			"The ipcplay daemon serves only its own user and root, and refuses everyone else with a clear \"permission denied\". "+
			"Here the socket is in the abstract namespace, which has no file and so no permissions: the credential check is the only gate."),
		Addr:      "@" + env.Name("peercred"),
		ServerPID: os.Getpid(),
		ServerUID: me,
		Rule:      fmt.Sprintf("serve uid %d (the server's own) or 0 (root); refuse the others", me),
	}
	if me == 0 {
		res.Rule = "serve uid 0 (root, the server's own); refuse the others"
	}
	l, err := sockets.Listen(sockets.Stream, res.Addr)
	if err != nil {
		return nil, err
	}
	defer l.Close()

	var problems []string
	clients := []struct {
		name string
		cred *syscall.Credential
	}{{"same user", nil}, {"another user", &syscall.Credential{Uid: uint32(p.UID), Gid: uint32(p.UID)}}}
	for i, cl := range clients {
		env.Progress(int64(i), int64(len(clients)), cl.name)
		row := PeerCredRow{Client: cl.name, Expected: "served"}
		if cl.cred != nil {
			row.Expected = "refused"
			if me != 0 {
				other := p.UID
				if other == me { // running as that very uid: take its neighbour
					other = me + 1
				}
				row.Skipped = fmt.Sprintf("needs root to run a client as another uid (by the rule, uid %d would be %s)",
					other, decision(peerAllowed(me, sockets.Cred{UID: other})))
				row.Decision = "skipped"
				row.Matches = !peerAllowed(me, sockets.Cred{UID: other})
				res.Rows = append(res.Rows, row)
				continue
			}
			if p.UID == me {
				return nil, ipc.Usagef("--uid %d: must differ from the server's uid", p.UID)
			}
		}
		row, err := peerRound(ctx, env, l, me, row, cl.cred)
		if err != nil {
			return res, fmt.Errorf("demo peercred: %s: %w", cl.name, err)
		}
		if !row.Matches {
			problems = append(problems, fmt.Sprintf("%s: kernel said pid %d uid %d gid %d (client: pid %d uid %d gid %d), %s, expected %s",
				row.Client, row.PeerPID, row.PeerUID, row.PeerGID, row.ClientPID, row.ClientUID, row.ClientGID, row.Decision, row.Expected))
		}
		res.Rows = append(res.Rows, row)
	}
	env.Progress(int64(len(clients)), int64(len(clients)), "done")
	return res, res.verdict(problems)
}

func decision(allowed bool) string {
	if allowed {
		return "served"
	}
	return "refused"
}

// peerRound starts one client worker and serves (or refuses) its one
// connection.
func peerRound(ctx context.Context, env *ipc.Env, l *sockets.Listener, me int, row PeerCredRow, cred *syscall.Credential) (PeerCredRow, error) {
	type served struct {
		cred sockets.Cred
		err  error
	}
	done := make(chan served, 1)
	go func() {
		var s served
		defer func() { done <- s }()
		if s.err = l.SetDeadline(time.Now().Add(peerTimeout + 15*time.Second)); s.err != nil {
			return
		}
		conn, err := l.Accept()
		if err != nil {
			s.err = err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(peerTimeout))
		if s.cred, s.err = conn.PeerCred(); s.err != nil {
			return
		}
		msg := fmt.Sprintf("welcome, pid %d (uid %d, gid %d)", s.cred.PID, s.cred.UID, s.cred.GID)
		if !peerAllowed(me, s.cred) {
			msg = fmt.Sprintf("permission denied: uid %d is neither the server's (%d) nor root", s.cred.UID, me)
		}
		_, s.err = conn.Write([]byte(msg))
	}()
	pctx, cancel := phase(ctx, peerTimeout+30*time.Second)
	defer cancel()
	rs, err := env.RunWorkers(pctx, []worker.Spec{{Kind: "lab-peercred-client", Name: "client", Spec: l.Addr(), Credential: cred}})
	if err != nil {
		l.Close() // ends the Accept
		<-done
		return row, err
	}
	s := <-done
	if s.err != nil {
		return row, s.err
	}
	var out peerClientOut
	if err := rs[0].Decode(&out); err != nil {
		return row, err
	}
	row.ClientPID, row.ClientUID, row.ClientGID, row.Reply = out.PID, out.UID, out.GID, out.Reply
	row.PeerPID, row.PeerUID, row.PeerGID = s.cred.PID, s.cred.UID, s.cred.GID
	row.CredMatches = s.cred.PID == out.PID && s.cred.UID == out.UID && s.cred.GID == out.GID && out.PID == rs[0].Pid
	row.Decision = decision(peerAllowed(me, s.cred))
	row.Matches = row.CredMatches && row.Decision == row.Expected
	return row, nil
}

// peerClient connects, says nothing and reports who it is and what the
// server answered.
func peerClient(ctx context.Context, c *worker.Child) (any, error) {
	var addr string
	if err := c.Spec(&addr); err != nil {
		return nil, err
	}
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	conn, err := sockets.DialTimeout(sockets.Stream, addr, peerTimeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(peerTimeout)); err != nil {
		return nil, err
	}
	reply, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return peerClientOut{PID: os.Getpid(), UID: os.Getuid(), GID: os.Getgid(), Reply: string(reply)}, nil
}

func renderPeerCred(w io.Writer, doc json.RawMessage) error {
	var r PeerCredResult
	if err := decodeDoc(doc, &r); err != nil {
		return err
	}
	fmt.Fprintf(w, "Server: pid %d, uid %d, listening on %s. Rule: %s.\n\n", r.ServerPID, r.ServerUID, r.Addr, r.Rule)
	rows := [][]string{}
	for _, row := range r.Rows {
		if row.Skipped != "" {
			rows = append(rows, []string{row.Client, "-", "-", row.Decision, row.Expected, "-"})
			continue
		}
		rows = append(rows, []string{row.Client,
			fmt.Sprintf("pid %d uid %d gid %d", row.ClientPID, row.ClientUID, row.ClientGID),
			fmt.Sprintf("pid %d uid %d gid %d", row.PeerPID, row.PeerUID, row.PeerGID),
			row.Decision, row.Expected, yesNo(row.Matches)})
	}
	table(w, []string{"CLIENT", "CLIENT SAYS", "SO_PEERCRED SAYS", "DECISION", "EXPECTED", "MATCHES"}, rows)
	fmt.Fprintln(w)
	for _, row := range r.Rows {
		if row.Skipped != "" {
			fmt.Fprintf(w, "%s: skipped: %s\n", row.Client, row.Skipped)
			continue
		}
		fmt.Fprintf(w, "%s: got %q\n", row.Client, row.Reply)
	}
	return nil
}
