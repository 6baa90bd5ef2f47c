"""Small PyTorch models that tests of several files export to ONNX: the recurrent keyword-spotting model
of test_recurrent.py (T frames of F MFCC coefficients) and the Pad that stays in a row-band stage of
test_fold_pad.py (test_image.py builds both into images)."""
import torch
import torch.nn.functional as nnf

T, F = 49, 10              # MFCC frames x coefficients, as the MLPerf Tiny KWS input


class TorchKWS(torch.nn.Module):
    """MFCC -> LSTM (or GRU) -> Dense -> softmax; `last` picks how the last hidden state is read."""

    def __init__(self, hidden, batch_first, last, cell="LSTM"):
        super().__init__()
        self.batch_first, self.last = batch_first, last
        self.rnn = getattr(torch.nn, cell)(F, hidden, batch_first=batch_first)
        self.fc = torch.nn.Linear(hidden, 12)

    def forward(self, x):
        if not self.batch_first:
            x = x.transpose(0, 1)
        y, h = self.rnn(x)
        h = h[0] if isinstance(h, tuple) else h
        if self.last == "h_n":
            z = h.squeeze(0)
        else:
            z = y[:, -1] if self.batch_first else y[-1]
        return torch.softmax(self.fc(z) * 4, -1)


def export_torch(path, hidden, batch_first, last, dynamo, seed=0, cell="LSTM"):
    """A seeded TorchKWS written to ONNX at `path` by the dynamo exporter or TorchScript's (opset 13); the path."""
    torch.manual_seed(seed)
    m = TorchKWS(hidden, batch_first, last, cell).eval()
    if dynamo:
        torch.onnx.export(m, (torch.zeros(1, T, F),), str(path), dynamo=True)
    else:
        torch.onnx.export(m, (torch.zeros(1, T, F),), str(path), dynamo=False, opset_version=13)
    return str(path)


class PadBandNet(torch.nn.Module):
    """A Pad that cannot fold (before a max-pool of signed values) in the memory-heaviest stretch."""

    def __init__(self, pads=(1, 2, 2, 1)):
        super().__init__()
        self.pads = pads
        g = torch.Generator().manual_seed(7)
        self.c1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = torch.nn.Conv2d(16, 24, 3, stride=2, padding=1)
        self.c3 = torch.nn.Conv2d(24, 8, 3, stride=2)
        for m in (self.c1, self.c2, self.c3):
            m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.3
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1

    def forward(self, x):
        y = nnf.max_pool2d(nnf.pad(self.c1(x), self.pads), 3, 1)         # signed: the zeros may win, the Pad stays
        y = nnf.relu(self.c2(y))
        return nnf.adaptive_avg_pool2d(self.c3(y), 1).flatten(1)
