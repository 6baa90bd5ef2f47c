"""collapse_elementwise: an element-wise chain that depends on one tensor becomes one Elementwise node.

Exporters spell activations as chains: softsign as x / (1 + |x|), softshrink with Where and Greater,
log-sigmoid as Log(Sigmoid(x)), tanhshrink as x - tanh(x), GELU as x * (1 + erf(x / sqrt 2)) / 2.
Node by node, such a chain has primitives with no int8 kernel (compiler/elementwise.py), or it
multiplies and adds int8 tensors that are all functions of the same x: one rounding per node and a
two-input kernel each.  As a whole it is a function of x alone, which in the integer graph is one
256-entry table (one rounding, one lookup).

A tensor's base is the one computed tensor it is an element-wise function of: itself, unless its node
is element-wise (an Elementwise primitive, a unary op of reference.FLOAT_UNARY, or Add/Sub/Mul without
a fused activation) over computed inputs with one common base and constants of one element.  Every
tensor whose base is another tensor, that something outside its chain reads, and whose chain holds a
primitive, a two-input node over computed tensors, or a curve (a unary op other than the clamps
a conv takes, Relu and Clip) with another node, gets one Elementwise node over the base whose
program is the chain (constants folded in).  Chains of one unary op stay as they are (they are one
table already), and so do the gates fuse_gated_activations names (Swish, HardSwish, Mish), which run
before.  The nodes left unread are removed by eliminate_dead.  Integer graphs (an imported int8
.tflite) are left alone: their arithmetic is the file's.

An Elementwise primitive left over two computed tensors of different bases (or with a constant that
differs per element) has no integer form; all of them are refused in one error, each by node."""
from ..compiler.errors import UnsupportedOpError
from ..compiler.ir import Graph, Node
from ..compiler.reference import FLOAT_UNARY
from ..compiler.elementwise import IN, STEP, describe, step_args
from ..compiler.importers.runtime_float import NORMALIZES_BY_ITS_INPUT

BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul"}
#: unary ops fuse_activations folds into the producing conv's clamp: a chain of these stays
CLAMPS = ("Relu", "Clip")
#: reductions (as imported, and as the IR spells them after lowering) whose result, divided into its own
#: input, makes a run-time normalization
STATISTICS = ("ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceL1", "AvgPool2D", "Mean")
#: data movement a normalization's statistic is carried through (besides element-wise nodes)
MOVES = ("Reshape", "Transpose")


def _chainable(node) -> bool:
    return (node.op == "Elementwise" or node.op in FLOAT_UNARY
            or (node.op in BINARY and node.attrs.get("act") is None))


def _statistic_of_its_own_input(n, prod) -> str | None:
    """The name of the reduction whose result `n` (a refused element-wise node over two computed tensors)
    divides or scales an operand by, when that reduction reads the same operand: (x - mean(x)) /
    sqrt(var(x) + eps), the exporter's spelling of LayerNormalization, InstanceNormalization or an RMS
    / L2 normalization.  Walks element-wise and data-movement nodes only; None when it finds none."""
    def upstream(t, stop_at_statistics):
        seen, stack, found = set(), [t], []
        while stack:
            x = stack.pop()
            if x in seen or x not in prod:
                seen.add(x)
                continue
            seen.add(x)
            p = prod[x]
            if stop_at_statistics and p.op in STATISTICS:
                found.append(p)
            elif _chainable(p) or p.op in MOVES:
                stack.extend(p.inputs)
        return seen, found
    operands = list(dict.fromkeys(n.inputs))
    for k, t in enumerate(operands):
        _, statistics = upstream(t, True)
        others = set().union(*(upstream(o, False)[0] for j, o in enumerate(operands) if j != k))
        for r in statistics:
            if upstream(r.inputs[0], False)[0] & others:
                return r.name
    return None


def collapse_elementwise(graph: Graph) -> Graph:
    g = graph.copy()
    if any(t.dtype != "float32" for t in g.tensors.values() if not t.is_const):
        return g
    const = lambda t: g.tensors[t].is_const
    scalar = lambda t: const(t) and g.tensors[t].data.size == 1
    base, busy, curve, length, readers = {}, {}, {}, {}, g.consumers()
    for node in g.nodes:
        out = node.outputs[0]
        computed = [i for i in node.inputs if not const(i)]
        roots = {base.get(i, i) for i in computed}
        if (_chainable(node) and len(node.outputs) == 1 and computed and len(roots) == 1
                and all(scalar(i) for i in node.inputs if const(i))):
            base[out] = roots.pop()
            # a chain needs collapsing when it holds a primitive, a node over two computed tensors, or a
            # curve (a unary op a conv cannot clamp to) with another node: Softplus then / beta
            curve[out] = node.op in FLOAT_UNARY and node.op not in CLAMPS or any(curve.get(i, False) for i in computed)
            length[out] = 1 + max(length.get(i, 0) for i in computed)
            busy[out] = (node.op == "Elementwise" or len(computed) > 1 or (curve[out] and length[out] > 1)
                         or any(busy.get(i, False) for i in computed))
    prod = g.producer()

    def program_of(t):
        steps, at = [], {}

        def arg(x):
            if x == base[t]:
                return IN(0)
            if const(x):
                return float(g.tensors[x].data.reshape(-1)[0])
            if x not in at:
                node = prod[x]
                args = [arg(i) for i in node.inputs]
                if node.op == "Elementwise":
                    first = len(steps)

                    def remap(a):
                        if not isinstance(a, tuple):
                            return a
                        return args[a[1]] if a[0] == "in" else STEP(first + a[1])
                    for step in node.attrs["program"]:
                        head = step[:3] if step[0] == "op" else step[:1]
                        steps.append(head + tuple(remap(a) for a in step_args(step)))
                elif node.op in BINARY:
                    steps.append((BINARY[node.op],) + tuple(args))
                else:
                    steps.append(("op", node.op, tuple(sorted(node.attrs.items())), args[0]))
                at[x] = STEP(len(steps) - 1)
            return at[x]
        arg(t)
        return tuple(steps)

    def read_outside(t):
        return t in g.outputs or any(base.get(r.outputs[0]) != base[t] for r in readers.get(t, []))

    nodes = []
    for node in g.nodes:
        out = node.outputs[0]
        if busy.get(out) and read_outside(out):
            node = Node("Elementwise", node.name, [base[out]], [out], {"program": program_of(out)})
        nodes.append(node)
    g.nodes = nodes
    left = [n for n in g.nodes if n.op == "Elementwise" and n.outputs[0] not in base]
    if left:
        def why(n):
            computed = sorted({i for i in n.inputs if not const(i)})
            if len(computed) <= 1:
                return "has a constant operand of more than one element (it differs per element)"
            statistic = _statistic_of_its_own_input(n, prod)
            if statistic is not None:
                return (f"divides or scales its input by a statistic of that input ({statistic}): a normalization "
                        f"such as LayerNormalization written out by the exporter, which {NORMALIZES_BY_ITS_INPUT}")
            return f"reads {len(computed)} computed tensors ({', '.join(computed)}) that are not functions of one tensor"
        lines = [f"node {n.name}: {describe(n.attrs['program'], n.inputs)} {why(n)}" for n in left]
        raise UnsupportedOpError(f"{len(left)} element-wise node(s) without an integer form", reasons=lines,
                                 hint="edgec makes an element-wise chain integer when it depends on one tensor and "
                                      "scalar constants (it becomes one lookup table)")
    return g
