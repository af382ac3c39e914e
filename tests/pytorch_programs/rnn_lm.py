"""PyTorch's examples/word_language_model (an LSTM language model with truncated BPTT, a
hand-written SGD update and gradient clipping), on a synthetic corpus. Identical to the
PyTorch program except the imports (`torch` -> `democratising`) and saving the state_dict
instead of the pickled module (democratising never pickles)."""

# ruff: noqa - PyTorch's code as its authors wrote it, style included

import io
import math
import time

import democratising as torch
import democratising.nn as nn
import democratising.nn.functional as F


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super(RNNModel, self).__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ["LSTM", "GRU"]:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight

        self.init_weights()

        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (
                weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid),
            )
        else:
            return weight.new_zeros(self.nlayers, bsz, self.nhid)


def batchify(data, bsz, device):
    # Work out how cleanly we can divide the dataset into bsz parts.
    nbatch = data.size(0) // bsz
    # Trim off any extra elements that wouldn't cleanly fit (remainders).
    data = data.narrow(0, 0, nbatch * bsz)
    # Evenly divide the data across the bsz batches.
    data = data.view(bsz, -1).t().contiguous()
    return data.to(device)


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    else:
        return tuple(repackage_hidden(v) for v in h)


bptt = 12


def get_batch(source, i):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i : i + seq_len]
    target = source[i + 1 : i + 1 + seq_len].view(-1)
    return data, target


def corpus(n, ntokens):
    """A synthetic corpus with structure: token t is followed by (2 t + 1) mod ntokens,
    with some noise, so that an LSTM can learn it."""
    ids = [0]
    g = torch.rand(n)
    for i in range(1, n):
        ids.append(
            (2 * ids[-1] + 1) % ntokens if g[i].item() > 0.1 else int(g[i].item() * 99) % ntokens
        )
    return torch.tensor(ids, dtype=torch.long)


def main():
    torch.manual_seed(1111)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ntokens = 20
    train_data = batchify(corpus(2400, ntokens), 10, device)
    val_data = batchify(corpus(600, ntokens), 5, device)
    model = RNNModel("LSTM", ntokens, 32, 32, 2, 0.2, tie_weights=True).to(device)
    criterion = nn.NLLLoss()
    lr, clip = 5.0, 0.25

    def evaluate(data_source):
        model.eval()
        total_loss = 0.0
        hidden = model.init_hidden(5)
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, bptt):
                data, targets = get_batch(data_source, i)
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
                total_loss += len(data) * criterion(output, targets).item()
        return total_loss / (len(data_source) - 1)

    def train(epoch):
        model.train()
        total_loss = 0.0
        start_time = time.time()
        hidden = model.init_hidden(10)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i)
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            total_loss += loss.item()
            if batch % 10 == 0 and batch > 0:
                cur_loss = total_loss / 10
                elapsed = time.time() - start_time
                print(
                    "| epoch {:3d} | {:5d} batches | lr {:02.2f} | ms/batch {:5.2f} | "
                    "loss {:5.2f} | ppl {:8.2f}".format(
                        epoch, batch, lr, elapsed * 1000 / 10, cur_loss, math.exp(cur_loss)
                    )
                )
                total_loss = 0
                start_time = time.time()

    best_val_loss = None
    first = evaluate(val_data)
    for epoch in range(1, 4):
        train(epoch)
        val_loss = evaluate(val_data)
        print(
            "| end of epoch {:3d} | valid loss {:5.2f} | valid ppl {:8.2f}".format(
                epoch, val_loss, math.exp(val_loss)
            )
        )
        if not best_val_loss or val_loss < best_val_loss:
            buffer = io.BytesIO()
            torch.save(model.state_dict(), buffer)
            best_val_loss = val_loss
        else:
            lr /= 4.0
    buffer.seek(0)
    model.load_state_dict(torch.load(buffer))
    model.rnn.flatten_parameters()
    assert evaluate(val_data) == best_val_loss
    assert best_val_loss < 0.7 * first, (first, best_val_loss)
    print(f"RESULT val ppl {math.exp(first):.1f} -> {math.exp(best_val_loss):.1f}")


if __name__ == "__main__":
    main()
