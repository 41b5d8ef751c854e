/** The CLI's help text (api.md's command-line contract, plus the extensions marked here). */

export const DEFAULT_ENDPOINT = "127.0.0.1:7379";

export const USAGE = `usage: flotilla <command> [arguments] [options]

Run a node:
  flotilla start [options]               run a node (foreground; SIGTERM/SIGINT stop it cleanly)
    --id NAME                            node name, unique in the cluster      (default: n1)
    --data DIR                           data directory                        (default: ./flotilla-data/<id>)
    --client HOST:PORT                   client HTTP listen address            (default: 127.0.0.1:7379)
    --peer HOST:PORT                     peer listen address                   (default: 127.0.0.1:7380)
    --advertise-client URL               client URL other nodes and clients are told
    --advertise-peer HOST:PORT           peer address other nodes are told
    --bootstrap n1=HOST:PEERPORT,...     form a new cluster of exactly these voters
    --join HOST:CLIENTPORT[,...]         join an existing cluster through any of its nodes (tried in turn: a seed list)
    --discover NAME [--expect N]         find the cluster on the local network by name (mDNS): join it if it
                                         runs, or bootstrap once N nodes (this one included) are seen
    --join-token TOKEN                   the cluster's admission secret: required to add a member, sent when
                                         joining, signs discovery records (or env FLOTILLA_JOIN_TOKEN)
    --log-level LEVEL                    fatal|error|warn|info|debug|trace     (default: info)
    tuning (default: the node's): --tick-ms N --election-timeout-ticks N --heartbeat-interval-ticks N
                                  --request-timeout-ms N --snapshot-entries N --snapshot-catchup-entries N
                                  --no-background-checkpoints (SQLite's checkpoints on the event loop:
                                  ~12 MiB less memory per node, for small devices; short pauses instead)
  flotilla dev [--nodes N]               run N nodes on loopback (default 3), logs prefixed, Ctrl-C stops all
    --base-port P                        first client port; node i uses P+2i (client) and P+2i+1 (peer) (default 7379)
    --data DIR                           where their data goes                 (default: ./flotilla-data/dev)
    --log-level LEVEL                    (default: info)
  flotilla sim [options]                 run the deterministic cluster simulator (flotilla sim --help)
  flotilla torture [options]             fault run against real processes: kills, pauses, partitions, loss,
                                         membership; checks linearizability, writes a report (flotilla torture --help)

Use a cluster (every command takes --endpoints HOST:PORT[,HOST:PORT...], default ${DEFAULT_ENDPOINT},
and tries the next endpoint when one is unreachable; --timeout MS bounds each attempt):
  flotilla put KEY VALUE [--if-mod-revision N] [--lease ID]
  flotilla get KEY [--consistency linearizable|stale] [--json]
  flotilla del KEY [--prefix] [--if-mod-revision N]
  flotilla ls [PREFIX] [--limit N] [--after KEY] [--consistency linearizable|stale] [--keys]
  flotilla status
  flotilla members [list [--table] | add NAME PEERADDR [--learner] [--client URL] [--join-token T] | remove NAME | promote NAME]
  flotilla transfer-leader [NAME]

Output: get prints the value's raw bytes (plus a newline on a terminal); the other commands
print one JSON object on one line (values as UTF-8 strings; a value that is not UTF-8 is base64,
marked "encoding":"base64"). Errors go to stderr in one line.
Exit status: 0 success, 1 the operation failed (not found, precondition failed, ...), 2 bad usage.
`;
