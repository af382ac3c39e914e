"""The data pipeline and sampling of makemore/minGPT (an infinite RandomSampler with
replacement, a bigram model trained with AdamW, sampling with torch.multinomial from a
Generator-free loop), on a synthetic word list. Identical to the PyTorch program except the
imports: `torch` -> `democratising`."""

# ruff: noqa - PyTorch's code as its authors wrote it, style included

import democratising as torch
import democratising.nn as nn
from democratising.nn import functional as F
from democratising.utils.data import DataLoader, Dataset
from democratising.utils.data.sampler import RandomSampler
from democratising.utils.tensorboard import SummaryWriter

words = [
    "anna",
    "emma",
    "olivia",
    "ava",
    "isabella",
    "sophia",
    "mia",
    "amelia",
    "harper",
    "ella",
] * 20


class CharDataset(Dataset):
    def __init__(self, words, chars, max_word_length):
        self.words = words
        self.chars = chars
        self.max_word_length = max_word_length
        self.stoi = {ch: i + 1 for i, ch in enumerate(chars)}
        self.itos = {i: s for s, i in self.stoi.items()}

    def __len__(self):
        return len(self.words)

    def get_vocab_size(self):
        return len(self.chars) + 1

    def get_output_length(self):
        return self.max_word_length + 1

    def encode(self, word):
        ix = torch.tensor([self.stoi[w] for w in word], dtype=torch.long)
        return ix

    def decode(self, ix):
        word = "".join(self.itos[i] for i in ix)
        return word

    def __getitem__(self, idx):
        word = self.words[idx]
        ix = self.encode(word)
        x = torch.zeros(self.max_word_length + 1, dtype=torch.long)
        y = torch.zeros(self.max_word_length + 1, dtype=torch.long)
        x[1 : 1 + len(ix)] = ix
        y[: len(ix)] = ix
        y[len(ix) + 1 :] = -1
        return x, y


class Bigram(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        n = vocab_size
        self.logits = nn.Parameter(torch.zeros((n, n)))

    def forward(self, idx, targets=None):
        logits = self.logits[idx]
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
            )
        return logits, loss


class InfiniteDataLoader:
    """this is really hacky and I'm not proud of it, but there doesn't seem to be
    a better way in PyTorch to just create an infinite dataloader?"""

    def __init__(self, dataset, **kwargs):
        train_sampler = torch.utils.data.RandomSampler(
            dataset, replacement=True, num_samples=int(1e10)
        )
        self.train_loader = DataLoader(dataset, sampler=train_sampler, **kwargs)
        self.data_iter = iter(self.train_loader)

    def next(self):
        try:
            batch = next(self.data_iter)
        except StopIteration:
            self.data_iter = iter(self.train_loader)
            batch = next(self.data_iter)
        return batch


@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature=1.0, do_sample=False, top_k=None):
    for _ in range(max_new_tokens):
        logits, _ = model(idx)
        logits = logits[:, -1, :] / temperature
        if top_k is not None:
            v, _ = torch.topk(logits, top_k)
            logits[logits < v[:, [-1]]] = -float("Inf")
        probs = F.softmax(logits, dim=-1)
        if do_sample:
            idx_next = torch.multinomial(probs, num_samples=1)
        else:
            _, idx_next = torch.topk(probs, k=1, dim=-1)
        idx = torch.cat((idx, idx_next), dim=1)
    return idx


def main():
    torch.manual_seed(3407)
    chars = sorted(list(set("".join(words))))
    max_word_length = max(len(w) for w in words)
    train_dataset = CharDataset(words, chars, max_word_length)
    assert RandomSampler is torch.utils.data.RandomSampler
    model = Bigram(train_dataset.get_vocab_size())
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=5e-2, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8
    )
    batch_loader = InfiniteDataLoader(train_dataset, batch_size=32, pin_memory=True, num_workers=2)
    writer = SummaryWriter(log_dir="out")
    losses = []
    for step in range(150):
        batch = batch_loader.next()
        X, Y = batch
        logits, loss = model(X, Y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 50 == 0:
            writer.add_scalar("Loss/train", loss.item(), step)
            writer.flush()
    writer.close()
    X_init = torch.zeros(5, 1, dtype=torch.long)
    X_samp = generate(model, X_init, max_word_length, top_k=None, do_sample=True)[:, 1:].tolist()
    samples = []
    for row in X_samp:
        crop_index = row.index(0) if 0 in row else len(row)
        samples.append(train_dataset.decode(row[:crop_index]))
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; samples {samples}")
    assert losses[-1] < 0.75 * losses[0], losses
    print("RESULT ok")


if __name__ == "__main__":
    main()
