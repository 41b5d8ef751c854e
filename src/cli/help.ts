/** The CLI's help text (api.md's command-line contract, plus the extensions marked here). */

export const DEFAULT_ENDPOINT = "127.0.0.1:7379";

const CLIENT_OPTIONS_HELP = `Every client command takes:
  --endpoints HOST:PORT[,HOST:PORT...]   the nodes to ask, tried in turn   (default: ${DEFAULT_ENDPOINT})
  --timeout MS                           the longest wait for one attempt
`;

const EXIT_HELP = "Exit status: 0 success, 1 the operation failed (not found, precondition failed, ...), 2 bad usage.\n";

export const USAGE = `usage: flotilla <command> [arguments] [options]
       flotilla <command> --help          that command's usage (or: flotilla help <command>)

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
    --log-format json|pretty             JSON lines, or lines for people       (default: pretty on a terminal, else json)
    tuning (default: the node's): --tick-ms N --election-timeout-ticks N --heartbeat-interval-ticks N
                                  --request-timeout-ms N --snapshot-entries N --snapshot-catchup-entries N
                                  --no-background-checkpoints (SQLite's checkpoints on the event loop:
                                  ~12 MiB less memory per node, for small devices; short pauses instead)
  flotilla dev [--nodes N]               run N nodes on loopback (default 3), logs prefixed, Ctrl-C stops all
    --base-port P                        first client port; node i uses P+2i (client) and P+2i+1 (peer) (default 7379)
    --data DIR                           where their data goes                 (default: ./flotilla-data/dev)
    --log-level LEVEL                    (default: info)
    --log-format json|pretty             (default: pretty on a terminal, else json)
  flotilla sim [options]                 run the deterministic cluster simulator (flotilla sim --help)
  flotilla torture [options]             fault run against real processes: kills, pauses, partitions, loss,
                                         membership; checks linearizability, writes a report (flotilla torture --help)

Use a cluster (every command takes --endpoints HOST:PORT[,HOST:PORT...], default ${DEFAULT_ENDPOINT},
and tries the next endpoint when one is unreachable; --timeout MS bounds each attempt):
  flotilla put KEY VALUE [--if-mod-revision N] [--lease ID]
  flotilla put KEY - | --file PATH       the value from standard input, or from a file
  flotilla get KEY [--consistency linearizable|stale] [--json]
  flotilla del KEY [--prefix] [--if-mod-revision N]
  flotilla ls [PREFIX] [--limit N] [--after KEY] [--consistency linearizable|stale] [--keys]
  flotilla txn [JSON | - | --file PATH]  a transaction (api.md's POST /v1/txn body); exit 1 when its compares fail
  flotilla status
  flotilla members [list [--table] | add NAME PEERADDR [--learner] [--client URL] [--join-token T] | remove NAME | promote NAME]
  flotilla transfer-leader [NAME]

Output: get prints the value's raw bytes (plus a newline on a terminal); the other commands
print one JSON object on one line (values as UTF-8 strings; a value that is not UTF-8 is base64,
marked "encoding":"base64"). Errors go to stderr in one line. A value or key that starts with
"-" goes after "--" (flotilla put k -- -x); a negative number needs none (flotilla put k -1).
${EXIT_HELP}`;

/** `flotilla <command> --help` and `flotilla help <command>`: one command's usage. */
export const COMMAND_USAGE: Readonly<Record<string, string>> = {
  start: `usage: flotilla start [options]

Runs one node in the foreground until SIGTERM or SIGINT (Ctrl-C), then stops it cleanly (a
leader hands leadership over first). A second signal, a second or more later, exits at once.
With no data and none of --bootstrap, --join, --discover: a new single-node cluster. With data:
it resumes (--bootstrap and --join are then ignored).

  --id NAME                            node name, unique in the cluster      (default: n1)
  --data DIR                           data directory                        (default: ./flotilla-data/<id>)
  --client HOST:PORT                   client HTTP listen address            (default: 127.0.0.1:7379)
  --peer HOST:PORT                     peer listen address                   (default: 127.0.0.1:7380)
  --advertise-client URL               client URL other nodes and clients are told
  --advertise-peer HOST:PORT           peer address other nodes are told
  --bootstrap n1=HOST:PEERPORT,...     form a new cluster of exactly these voters (this node among them)
  --join HOST:CLIENTPORT[,...]         join an existing cluster through any of its nodes (tried in turn)
  --discover NAME [--expect N]         find the cluster on the local network by name (mDNS)
  --join-token TOKEN                   the cluster's admission secret (or env FLOTILLA_JOIN_TOKEN)
  --log-level LEVEL                    fatal|error|warn|info|debug|trace|silent   (default: info)
  --log-format json|pretty             one JSON object a line, or a line for people (default: pretty when
                                       stdout is a terminal, json otherwise)
  tuning (default: the node's): --tick-ms N --election-timeout-ticks N --heartbeat-interval-ticks N
    --request-timeout-ms N --snapshot-entries N --snapshot-catchup-entries N --no-background-checkpoints
    --trace FILE                         the steps of every write as JSON lines (npm run bench -- --timeline reads them)

Exit status: 0 stopped cleanly, or removed from the cluster (one line on stderr says so); 1 the
node could not start or stop (one line on stderr); 2 bad usage; 70 it stopped on a durability or
invariant failure (a failed fsync).
`,
  dev: `usage: flotilla dev [--nodes N] [--base-port P] [--data DIR] [--log-level LEVEL] [--log-format json|pretty]

Runs N real \`flotilla start\` processes on loopback, bootstrapped together (node i: client port
P+2i, peer port P+2i+1), their logs prefixed with [n1], [n2], ... Ctrl-C or SIGTERM stops them
all, and they stop by themselves if this runner dies.

  --nodes N                            how many nodes, 1..9                  (default: 3)
  --base-port P                        the first client port                 (default: 7379)
  --data DIR                           their data goes in DIR/<id>           (default: ./flotilla-data/dev)
  --log-level LEVEL                    (default: info)
  --log-format json|pretty             (default: pretty when stdout is a terminal, json otherwise)
`,
  put: `usage: flotilla put KEY VALUE [options]
       flotilla put KEY - [options]              the value is standard input (any bytes)
       flotilla put KEY --file PATH [options]    the value is the file's bytes (--file - : standard input)

Writes the value under KEY and prints {"revision","key","modRevision","version"}.
A negative number is a value as it is (flotilla put k -1); another value that starts with "-"
goes after "--" (flotilla put k -- -x).

  --if-mod-revision N    write only if the key's modRevision is N (0: only if the key is absent);
                         exit 1 with the current modRevision otherwise
  --lease ID             0 (no lease) only: leases are not available yet
  --file PATH            read the value from PATH (up to 1 MiB)

${CLIENT_OPTIONS_HELP}${EXIT_HELP}`,
  get: `usage: flotilla get KEY [--consistency linearizable|stale] [--json]

Prints the value's raw bytes (plus a newline on a terminal), so \`flotilla get k > file\` is the
stored value; exit 1 when the key does not exist.

  --consistency C        linearizable (default: reflects every write acknowledged before it) or
                         stale (the answering node's local state, no leader round trip)
  --json                 print the kv as JSON: key, value, createRevision, modRevision, version, lease, revision

${CLIENT_OPTIONS_HELP}${EXIT_HELP}`,
  del: `usage: flotilla del KEY [--prefix] [--if-mod-revision N]

Deletes KEY and prints {"revision","deleted"}.

  --prefix               delete every key that starts with KEY
  --if-mod-revision N    delete only if the key's modRevision is N; exit 1 otherwise

${CLIENT_OPTIONS_HELP}${EXIT_HELP}`,
  ls: `usage: flotilla ls [PREFIX] [--limit N] [--after KEY] [--consistency linearizable|stale] [--keys]

Lists keys in key order and prints one page: {"revision","kvs":[...],"more"}.

  --limit N              at most N keys (the server caps a page at 10000)
  --after KEY            start after KEY (the last key of the previous page)
  --consistency C        linearizable (default) or stale
  --keys                 print the keys only, one a line

${CLIENT_OPTIONS_HELP}${EXIT_HELP}`,
  txn: `usage: flotilla txn JSON
       flotilla txn [-]                     the transaction from standard input
       flotilla txn --file PATH             the transaction from a file

Runs one transaction, atomically: if every compare holds, the success operations, otherwise
the failure operations. The transaction is api.md's POST /v1/txn body, values as UTF-8 strings:
  {"compare": [{"key": "k", "target": "value|version|modRevision|createRevision", "op": "==|!=|<|>", "value": ...}],
   "success": [{"put": {"key": "k", "value": "v"}}, {"get": {"key": "k"}}, {"delete": {"prefix": "p/"}}],
   "failure": [...]}
Prints the answer, {"succeeded","revision","results":[...]}, one result per operation run.
Exit status: 0 when the compares held, 1 when they did not (the failure branch ran; its results
are printed all the same, and stderr says so) or the transaction failed, 2 bad usage (the
transaction is not JSON, or not a JSON object of compare, success and failure).

Example (create a key only if it is absent, else read it):
  flotilla txn '{"compare":[{"key":"lock","target":"version","op":"==","value":0}],
                 "success":[{"put":{"key":"lock","value":"me"}}],"failure":[{"get":{"key":"lock"}}]}'

${CLIENT_OPTIONS_HELP}`,
  status: `usage: flotilla status

Prints the answering node's view of itself and the cluster: id, role, term, leader, commitIndex,
appliedIndex, members.

${CLIENT_OPTIONS_HELP}${EXIT_HELP}`,
  members: `usage: flotilla members [list [--table]]
       flotilla members add NAME PEERADDR [--learner] [--client URL] [--join-token TOKEN]
       flotilla members remove NAME
       flotilla members promote NAME

Cluster membership, one change at a time, through the Raft log. Each prints {"members":[...]}
(the leader's view: role, matchIndex, lag, lastContactMs).

  --table                list: a table for people
  --learner              add: as a learner, which does not vote and counts in no quorum until
                         promoted. Without it the new member is a voter at once, and counts in
                         every quorum before it has caught up (a warning says so)
  --client URL           add: the member's client address
  --join-token TOKEN     add: the cluster's join token (or env FLOTILLA_JOIN_TOKEN)

${CLIENT_OPTIONS_HELP}${EXIT_HELP}`,
  "transfer-leader": `usage: flotilla transfer-leader [NAME]

Hands leadership to NAME (or to the most caught-up voter) and prints {"leader"}.

${CLIENT_OPTIONS_HELP}${EXIT_HELP}`,
  help: `usage: flotilla help [COMMAND]

Prints the usage of every command, or of one.
`,
};
