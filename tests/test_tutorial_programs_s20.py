"""PyTorch tutorial-style training programs, run on democratising (differential testing, s20).

Each ``program_*`` is written against a ``torch``-like module (``torch.nn``, ``torch.optim``,
``torch.utils.data``...) and is called here with ``democratising``. The same functions, called
with real PyTorch 2.15 from identical NumPy-made initial weights, gave the loss trajectories
hard-coded below (the suite has no torch); dropout and sampling noise are switched off where a
trajectory is compared. Beyond the numbers, each test checks what the tutorial relies on: loss
goes down, shapes, frozen parameters stay frozen, save/load round trips give identical outputs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

import democratising as dm
from helpers import numpy_init, to_np

# ---- shared helpers --------------------------------------------------------------------------


def assert_traj(actual: list[float], expected: list[float], rtol: float = 2e-4) -> None:
    """The first ``len(expected)`` losses match PyTorch's."""
    np.testing.assert_allclose(actual[: len(expected)], expected, rtol=rtol, atol=1e-6)


# ---- (1) quickstart: MLP, DataLoader, train/test loops, save/load ------------------------------


def program_quickstart(torch: Any, path: str) -> dict[str, Any]:
    nn = torch.nn
    data = torch.utils.data
    rng = np.random.default_rng(0)
    templates = rng.random((4, 1, 4, 4), dtype=np.float32)
    yn = rng.integers(0, 4, 96)
    xn = (templates[yn] + 0.4 * rng.random((96, 1, 4, 4), dtype=np.float32)).astype(np.float32)
    train_dl = data.DataLoader(
        data.TensorDataset(torch.tensor(xn[:64]), torch.tensor(yn[:64])), batch_size=16
    )
    test_dl = data.DataLoader(
        data.TensorDataset(torch.tensor(xn[64:]), torch.tensor(yn[64:])), batch_size=16
    )

    class NeuralNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)
            )

        def forward(self, x: Any) -> Any:
            return self.linear_relu_stack(self.flatten(x))

    model = NeuralNetwork()
    numpy_init(torch, model, 1)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses, accs = [], []
    for _ in range(6):
        model.train()
        for x, y in train_dl:
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        model.eval()
        correct = 0.0
        with torch.no_grad():
            for x, y in test_dl:
                correct += (model(x).argmax(1) == y).type(torch.float).sum().item()
        accs.append(correct / len(test_dl.dataset))
    torch.save(model.state_dict(), path)
    model2 = NeuralNetwork()
    model2.load_state_dict(torch.load(path, weights_only=True))
    model2.eval()
    xt = torch.tensor(xn[64:])
    with torch.no_grad():
        out, out2 = model(xt), model2(xt)
    return {"losses": losses, "accs": accs, "out": to_np(out), "out2": to_np(out2)}


QUICKSTART_LOSSES = [
    1.3852235078811646,
    1.3893535137176514,
    1.3692989349365234,
    1.368937611579895,
    1.3291436433792114,
    1.2879654169082642,
    1.3639576435089111,
    1.3504924774169922,
    1.2366138696670532,
    1.150404691696167,
]


def test_quickstart(tmp_path: Path) -> None:
    r = program_quickstart(dm, str(tmp_path / "model.pth"))
    assert_traj(r["losses"], QUICKSTART_LOSSES)
    assert r["losses"][-1] < 0.5 * r["losses"][0]
    assert r["accs"][-1] >= 0.9
    assert r["out"].shape == (32, 4)
    np.testing.assert_array_equal(r["out"], r["out2"])  # save/load round trip


# ---- (2) CNN: BatchNorm, Dropout, train()/eval(), no_grad, Adadelta + StepLR --------------------


def program_cnn(torch: Any, p: float) -> dict[str, Any]:
    nn, F = torch.nn, torch.nn.functional  # noqa: N806 (PyTorch code spells it F)
    data = torch.utils.data
    rng = np.random.default_rng(1)
    templates = rng.random((4, 1, 8, 8), dtype=np.float32)
    yn = rng.integers(0, 4, 64)
    xn = (templates[yn] + 0.3 * rng.standard_normal((64, 1, 8, 8))).astype(np.float32)
    loader = data.DataLoader(
        data.TensorDataset(torch.tensor(xn[:48]), torch.tensor(yn[:48])), batch_size=8
    )

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, 1)
            self.bn1 = nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 8, 3, 1)
            self.dropout1 = nn.Dropout(p)
            self.fc1 = nn.Linear(32, 16)
            self.bn2 = nn.BatchNorm1d(16)
            self.dropout2 = nn.Dropout(2 * p)
            self.fc2 = nn.Linear(16, 4)

        def forward(self, x: Any) -> Any:
            x = F.relu(self.bn1(self.conv1(x)))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(self.dropout1(x), 1)
            x = self.dropout2(F.relu(self.bn2(self.fc1(x))))
            return F.log_softmax(self.fc2(x), dim=1)

    model = Net()
    numpy_init(torch, model, 2)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    losses, lrs = [], []
    for _ in range(3):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    xt, yt = torch.tensor(xn[48:]), torch.tensor(yn[48:])
    model.eval()
    with torch.no_grad():
        out = model(xt)
        out_again = model(xt)
        test_loss = F.nll_loss(out, yt, reduction="sum").item() / 16
        correct = out.argmax(dim=1, keepdim=True).eq(yt.view(16, 1)).sum().item()
    model.train()
    with torch.no_grad():
        train_out = model(xt)
        train_out2 = model(xt)
    return {
        "losses": losses,
        "lrs": lrs,
        "out": to_np(out),
        "out_again": to_np(out_again),
        "train_out": to_np(train_out),
        "train_out2": to_np(train_out2),
        "test_loss": test_loss,
        "correct": correct,
        "running_mean": to_np(model.bn1.running_mean),
        "batches": int(model.bn1.num_batches_tracked),
    }


CNN_LOSSES = [
    1.5233991146087646,
    1.4409412145614624,
    1.4538661241531372,
    1.165789246559143,
    1.5470311641693115,
    1.0953441858291626,
    1.2406821250915527,
    1.259811282157898,
    1.1606590747833252,
    0.9401554465293884,
]
CNN_BN1_RUNNING_MEAN = [
    -0.3697277009487152,
    0.223682701587677,
    0.17110379040241241,
    -0.00268934341147542,
]


def test_cnn_batchnorm_steplr() -> None:
    r = program_cnn(dm, 0.0)
    assert_traj(r["losses"], CNN_LOSSES)
    np.testing.assert_allclose(r["running_mean"], CNN_BN1_RUNNING_MEAN, rtol=1e-4, atol=1e-6)
    assert r["batches"] == 20  # 18 training batches + two train() forwards
    np.testing.assert_allclose(r["lrs"], [0.7, 0.49, 0.343], rtol=1e-12)
    assert r["losses"][-1] < r["losses"][0]
    assert r["out"].shape == (16, 4)
    np.testing.assert_allclose(np.exp(r["out"]).sum(1), 1.0, rtol=1e-5)  # log-probabilities
    assert 0 <= r["correct"] <= 16 and r["test_loss"] > 0
    np.testing.assert_array_equal(r["train_out"], r["train_out2"])  # no dropout: deterministic


def test_cnn_dropout_train_eval() -> None:
    """With dropout on, eval() is deterministic and train() is not (fresh masks each call)."""
    r = program_cnn(dm, 0.25)
    assert all(math.isfinite(v) for v in r["losses"])
    np.testing.assert_array_equal(r["out"], r["out_again"])
    assert not np.allclose(r["train_out"], r["train_out2"])
    assert not np.allclose(r["out"], r["train_out"])


# ---- (3) transfer learning: frozen backbone, new head, filter(requires_grad) -------------------


def program_transfer(torch: Any) -> dict[str, Any]:
    nn = torch.nn
    data = torch.utils.data
    rng = np.random.default_rng(2)
    xn = rng.standard_normal((48, 3, 8, 8)).astype(np.float32)
    yn = (xn[:, 0].mean((1, 2)) > xn[:, 1].mean((1, 2))).astype(np.int64)
    loader = data.DataLoader(
        data.TensorDataset(torch.tensor(xn[:32]), torch.tensor(yn[:32])), batch_size=8
    )

    class TinyResNet(nn.Module):
        def __init__(self, num_classes: int = 10) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = nn.Sequential(
                nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True)
            )
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(8, num_classes)

        def forward(self, x: Any) -> Any:
            x = self.relu(self.bn1(self.conv1(x)))
            x = x + self.layer1(x)
            return self.fc(torch.flatten(self.avgpool(x), 1))

    model = TinyResNet()
    numpy_init(torch, model, 3)
    for param in model.parameters():
        param.requires_grad = False
    model.layer1.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, 2)
    numpy_init(torch, model.fc, 4)
    frozen = {k: to_np(v) for k, v in model.named_parameters() if not k.startswith("fc")}
    optimizer = torch.optim.SGD(
        filter(lambda p: p.requires_grad, model.parameters()), lr=0.5, momentum=0.9
    )
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.1)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for _ in range(3):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            with torch.set_grad_enabled(True):
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    model.eval()
    with torch.set_grad_enabled(False):
        out = model(torch.tensor(xn[32:]))
    return {
        "losses": losses,
        "out": to_np(out),
        "out_requires_grad": out.requires_grad,
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "frozen_same": all(
            np.array_equal(frozen[k], to_np(v))
            for k, v in model.named_parameters()
            if not k.startswith("fc")
        ),
        "frozen_grads": [v.grad for k, v in model.named_parameters() if not k.startswith("fc")],
        "n_groups_params": len(optimizer.param_groups[0]["params"]),
    }


TRANSFER_LOSSES = [
    0.6101429462432861,
    0.7382888793945312,
    0.6791399717330933,
    0.6644448637962341,
    1.0099513530731201,
    0.6576865911483765,
    0.8595694303512573,
    0.783971905708313,
    1.2255182266235352,
    0.894953727722168,
]


def test_transfer_learning_frozen_backbone() -> None:
    r = program_transfer(dm)
    assert_traj(r["losses"], TRANSFER_LOSSES)
    assert r["trainable"] == 18 and r["n_groups_params"] == 2
    assert r["frozen_same"]
    assert all(g is None for g in r["frozen_grads"])
    assert r["out"].shape == (16, 2) and not r["out_requires_grad"]


# ---- (4) char-level LSTM LM: Embedding, pack_padded_sequence, clip_grad_norm_ -----------------


def program_char_lstm(torch: Any) -> dict[str, Any]:
    nn = torch.nn
    rnn = torch.nn.utils.rnn
    text = "hello world. the quick brown fox jumps over the lazy dog. " * 3
    stoi = {c: i + 1 for i, c in enumerate(sorted(set(text)))}
    vocab = len(stoi) + 1
    rng = np.random.default_rng(3)
    starts, lens = rng.integers(0, len(text) - 12, 16), rng.integers(3, 10, 16)
    seqs = [
        torch.tensor([stoi[c] for c in text[s : s + n + 1]], dtype=torch.long)
        for s, n in zip(starts, lens)
    ]

    class CharLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, 8, padding_idx=0)
            self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
            self.head = nn.Linear(16, vocab)

        def forward(self, x: Any, lengths: Any, hidden: Any = None) -> Any:
            packed = rnn.pack_padded_sequence(
                self.embed(x), lengths, batch_first=True, enforce_sorted=False
            )
            out, hidden = self.lstm(packed, hidden)
            out, _ = rnn.pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
            return self.head(out), hidden

    model = CharLM()
    numpy_init(torch, model, 5)
    criterion = nn.CrossEntropyLoss(ignore_index=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses, norms = [], []
    for step in range(12):
        batch = [seqs[(step * 4 + j) % len(seqs)] for j in range(4)]
        inp = rnn.pad_sequence([s[:-1] for s in batch], batch_first=True, padding_value=0)
        tgt = rnn.pad_sequence([s[1:] for s in batch], batch_first=True, padding_value=0)
        lengths = torch.tensor([len(s) - 1 for s in batch])
        optimizer.zero_grad()
        logits, _ = model(inp, lengths)
        loss = criterion(logits.reshape(-1, vocab), tgt.reshape(-1))
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)))
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        logits, (h, c) = model(inp, lengths)
        clipped = math.sqrt(sum(float((p.grad**2).sum()) for p in model.parameters()))
    return {
        "losses": losses,
        "norms": norms,
        "clipped": clipped,
        "logits": to_np(logits),
        "h": tuple(h.shape),
        "c": tuple(c.shape),
        "shape": tuple(inp.shape),
    }


CHAR_LSTM_LOSSES = [
    3.3998241424560547,
    3.344536781311035,
    3.3636391162872314,
    3.3486998081207275,
    3.3125782012939453,
    3.271528482437134,
    3.3011176586151123,
    3.2803807258605957,
    3.1650772094726562,
    3.1262166500091553,
]
CHAR_LSTM_NORMS = [
    0.30159977078437805,
    0.27261611819267273,
    0.21386751532554626,
    0.240231454372406,
    0.30499744415283203,
    0.29613393545150757,
    0.23226064443588257,
    0.25878629088401794,
]


def test_char_lstm_packed_clipped() -> None:
    r = program_char_lstm(dm)
    assert_traj(r["losses"], CHAR_LSTM_LOSSES)
    assert_traj(r["norms"], CHAR_LSTM_NORMS)
    assert r["clipped"] <= 0.5 + 1e-4  # the last step's gradients were clipped in place
    assert r["losses"][-1] < r["losses"][0]
    b, t = r["shape"]
    assert r["logits"].shape[:2] == (b, t) and r["h"] == (2, b, 16) and r["c"] == (2, b, 16)
    assert np.isfinite(r["logits"]).all()


# ---- (5) seq2seq GRU encoder/decoder with teacher forcing -------------------------------------


def program_seq2seq(torch: Any) -> dict[str, Any]:
    nn, F = torch.nn, torch.nn.functional  # noqa: N806 (PyTorch code spells it F)
    sos, eos, vocab, maxlen, hidden = 0, 1, 8, 5, 16
    rng = np.random.default_rng(4)
    src = np.concatenate([rng.integers(2, vocab, (32, maxlen - 1)), np.full((32, 1), eos)], 1)
    tgt = np.concatenate([src[:, :-1][:, ::-1], np.full((32, 1), eos)], 1).copy()
    data = torch.utils.data
    loader = data.DataLoader(data.TensorDataset(torch.tensor(src), torch.tensor(tgt)), batch_size=8)

    class EncoderRNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocab, hidden)
            self.gru = nn.GRU(hidden, hidden, batch_first=True)

        def forward(self, x: Any) -> Any:
            return self.gru(self.embedding(x))

    class DecoderRNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocab, hidden)
            self.gru = nn.GRU(hidden, hidden, batch_first=True)
            self.out = nn.Linear(hidden, vocab)

        def forward(self, enc_out: Any, enc_hidden: Any, target: Any = None) -> Any:
            dec_input = torch.empty(enc_out.size(0), 1, dtype=torch.long).fill_(sos)
            dec_hidden, outputs = enc_hidden, []
            for i in range(maxlen):
                output, dec_hidden = self.gru(F.relu(self.embedding(dec_input)), dec_hidden)
                output = self.out(output)
                outputs.append(output)
                if target is not None:
                    dec_input = target[:, i].unsqueeze(1)  # teacher forcing
                else:
                    _, topi = output.topk(1)
                    dec_input = topi.squeeze(-1).detach()
            return F.log_softmax(torch.cat(outputs, dim=1), dim=-1), dec_hidden

    encoder, decoder = EncoderRNN(), DecoderRNN()
    numpy_init(torch, encoder, 6)
    numpy_init(torch, decoder, 7)
    enc_opt = torch.optim.Adam(encoder.parameters(), lr=0.02)
    dec_opt = torch.optim.Adam(decoder.parameters(), lr=0.02)
    criterion = nn.NLLLoss()
    losses = []
    for epoch in range(4):
        for x, y in loader:
            enc_opt.zero_grad()
            dec_opt.zero_grad()
            enc_out, enc_hidden = encoder(x)
            out, _ = decoder(enc_out, enc_hidden, y if epoch % 2 == 0 else None)
            loss = criterion(out.view(-1, out.size(-1)), y.view(-1))
            loss.backward()
            enc_opt.step()
            dec_opt.step()
            losses.append(loss.item())
    with torch.no_grad():
        enc_out, enc_hidden = encoder(torch.tensor(src[:4]))
        out, h = decoder(enc_out, enc_hidden)
    return {"losses": losses, "out": to_np(out), "h": tuple(h.shape)}


SEQ2SEQ_LOSSES = [
    2.0805468559265137,
    2.0392041206359863,
    2.0121586322784424,
    1.9598957300186157,
    1.8962892293930054,
    1.8914512395858765,
    1.8425252437591553,
    1.776548147201538,
    1.6658313274383545,
    1.6894811391830444,
]


def test_seq2seq_gru_teacher_forcing() -> None:
    r = program_seq2seq(dm)
    assert_traj(r["losses"], SEQ2SEQ_LOSSES)
    assert r["losses"][-1] < r["losses"][0]
    assert r["out"].shape == (4, 5, 8) and r["h"] == (1, 4, 16)
    np.testing.assert_allclose(np.exp(r["out"]).sum(-1), 1.0, rtol=1e-5)


# ---- (6) DCGAN: ConvTranspose2d, BatchNorm2d, LeakyReLU, BCEWithLogitsLoss, detach() ----------


def program_dcgan(torch: Any) -> dict[str, Any]:
    nn = torch.nn
    nz, ngf, ndf, bsz = 4, 4, 4, 8
    yy, xx = np.mgrid[:16, :16]
    real_np = np.stack(
        [np.tanh(np.sin((xx + s) / 2.5) + np.cos((yy - s) / 3.0)) for s in range(32)]
    )[:, None].astype(np.float32)
    noise_np = np.random.default_rng(5).standard_normal((8, bsz, nz, 1, 1)).astype(np.float32)

    def weights_init(m: Any) -> None:
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    net_g = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False),
        nn.Tanh(),
    )
    net_d = nn.Sequential(
        nn.Conv2d(1, ndf, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),
        nn.Flatten(0),
    )
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    init_std = float(net_d[0].weight.detach().std())
    numpy_init(torch, net_g, 8)
    numpy_init(torch, net_d, 9)
    criterion = nn.BCEWithLogitsLoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-3, betas=(0.5, 0.999))
    loss_d, loss_g, d_grad_after_g = [], [], None
    for i in range(8):
        real = torch.tensor(real_np[(i * bsz) % 32 : (i * bsz) % 32 + bsz])
        net_d.zero_grad()
        label = torch.full((bsz,), 1.0, dtype=torch.float)
        err_real = criterion(net_d(real), label)
        err_real.backward()
        fake = net_g(torch.tensor(noise_np[i]))
        label.fill_(0.0)
        err_fake = criterion(net_d(fake.detach()), label)
        err_fake.backward()
        opt_d.step()
        net_g.zero_grad()
        label.fill_(1.0)
        err_g = criterion(net_d(fake), label)
        d_before = to_np(net_d[0].weight.grad)
        err_g.backward()
        d_grad_after_g = not np.array_equal(d_before, to_np(net_d[0].weight.grad))
        opt_g.step()
        loss_d.append((err_real + err_fake).item())
        loss_g.append(err_g.item())
    net_g.eval()
    with torch.no_grad():
        sample = net_g(torch.tensor(noise_np[0][:2]))
    return {
        "loss_d": loss_d,
        "loss_g": loss_g,
        "sample": to_np(sample),
        "init_std": init_std,
        "d_grad_after_g": d_grad_after_g,
    }


DCGAN_LOSS_D = [
    1.4239027500152588,
    1.5552661418914795,
    1.4485304355621338,
    1.374059796333313,
    1.2783491611480713,
    1.4453091621398926,
    1.3463225364685059,
    1.2144701480865479,
]
DCGAN_LOSS_G = [
    0.8101702332496643,
    0.825560450553894,
    0.8419703245162964,
    0.7959162592887878,
    0.8940067887306213,
    0.8489556908607483,
    0.9104955196380615,
    0.8507052659988403,
]


def test_dcgan_two_optimizers() -> None:
    r = program_dcgan(dm)
    assert_traj(r["loss_d"], DCGAN_LOSS_D)
    assert_traj(r["loss_g"], DCGAN_LOSS_G)
    assert 0.005 < r["init_std"] < 0.05  # weights_init via apply() ran
    assert r["d_grad_after_g"]  # the generator's loss flows through D (not detached)
    assert r["sample"].shape == (2, 1, 16, 16) and np.abs(r["sample"]).max() <= 1.0


# ---- (7) VAE: reparameterisation, KL term, binary_cross_entropy(reduction="sum") ---------------


def program_vae(torch: Any) -> dict[str, Any]:
    nn, F = torch.nn, torch.nn.functional  # noqa: N806 (PyTorch code spells it F)
    dim, hid, z = 16, 8, 2
    rng = np.random.default_rng(6)
    proto = (rng.random((4, dim)) > 0.5).astype(np.float32)
    xn = np.clip(proto[rng.integers(0, 4, 64)] * 0.9 + 0.05 + 0.05 * rng.random((64, dim)), 0, 1)
    xn = xn.astype(np.float32)
    eps_np = rng.standard_normal((8, 16, z)).astype(np.float32)
    data = torch.utils.data
    loader = data.DataLoader(data.TensorDataset(torch.tensor(xn)), batch_size=16)

    class VAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(dim, hid)
            self.fc21 = nn.Linear(hid, z)
            self.fc22 = nn.Linear(hid, z)
            self.fc3 = nn.Linear(z, hid)
            self.fc4 = nn.Linear(hid, dim)
            self.eps: Any = None

        def encode(self, x: Any) -> Any:
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu: Any, logvar: Any) -> Any:
            std = torch.exp(0.5 * logvar)
            eps = torch.randn_like(std) if self.eps is None else self.eps
            return mu + eps * std

        def decode(self, z: Any) -> Any:
            return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

        def forward(self, x: Any) -> Any:
            mu, logvar = self.encode(x.view(-1, dim))
            return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    model = VAE()
    numpy_init(torch, model, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses, step = [], 0
    for _ in range(2):
        model.train()
        for (x,) in loader:
            model.eps = torch.tensor(eps_np[step])
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            bce = F.binary_cross_entropy(recon, x.view(-1, dim), reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = bce + kld
            loss.backward()
            optimizer.step()
            losses.append(loss.item() / len(x))
            step += 1
    model.eps = None
    with torch.no_grad():
        sampled, _, _ = model(torch.tensor(xn[:4]))
        decoded = model.decode(torch.tensor(eps_np[0][:4]))
    return {"losses": losses, "sampled": to_np(sampled), "decoded": to_np(decoded)}


VAE_LOSSES = [
    11.149188041687012,
    11.030694007873535,
    10.857564926147461,
    10.59496784210205,
    10.560724258422852,
    10.489913940429688,
    10.124979972839355,
    10.299357414245605,
]


def test_vae_reparameterisation_kl() -> None:
    r = program_vae(dm)
    assert_traj(r["losses"], VAE_LOSSES)
    assert r["losses"][-1] < r["losses"][0]
    assert r["sampled"].shape == (4, 16) and r["decoded"].shape == (4, 16)
    assert ((r["decoded"] > 0) & (r["decoded"] < 1)).all()


# ---- (8) transformer LM: causal mask, AdamW, warmup LambdaLR, CPU autocast(bfloat16) ----------


def program_transformer_lm(torch: Any, amp: bool) -> dict[str, Any]:
    nn, F = torch.nn, torch.nn.functional  # noqa: N806 (PyTorch code spells it F)
    vocab, seq, d_model, bsz = 8, 8, 16, 4
    rng = np.random.default_rng(7)
    data = ((np.arange(120) % vocab) + (rng.random(120) < 0.1)).astype(np.int64) % vocab

    class TransformerLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocab, d_model)
            self.pos = nn.Parameter(torch.zeros(1, seq, d_model))
            layer = nn.TransformerEncoderLayer(d_model, 2, 32, 0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.linear = nn.Linear(d_model, vocab)

        def forward(self, src: Any, mask: Any) -> Any:
            x = self.embedding(src) * math.sqrt(d_model) + self.pos[:, : src.size(1)]
            return self.linear(self.encoder(x, mask, is_causal=True))

    def lr_lambda(step: int) -> float:
        if step < 3:
            return step / 3
        return max(0.0, (12 - step) / 9)

    model = TransformerLM()
    numpy_init(torch, model, 11)
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "norm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "norm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=5e-3,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    mask = nn.Transformer.generate_square_subsequent_mask(seq)
    losses, lrs, dtypes = [], [], None
    for step in range(12):
        starts = [(step * 5 + j * 17) % (120 - seq - 1) for j in range(bsz)]
        x = torch.tensor(np.stack([data[s : s + seq] for s in starts]))
        y = torch.tensor(np.stack([data[s + 1 : s + seq + 1] for s in starts]))
        model.train()
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=amp):
            logits = model(x, mask)
            loss = F.cross_entropy(logits.view(-1, vocab), y.view(-1))
        dtypes = (logits.dtype, loss.dtype)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        lrs.append(scheduler.get_last_lr()[0])
    model.eval()
    with torch.no_grad():
        out = model(torch.tensor(data[None, :seq]), mask)
    return {
        "losses": losses,
        "lrs": lrs,
        "out": to_np(out),
        "dtypes": dtypes,
        "mask": to_np(mask),
        "param_dtype": next(model.parameters()).dtype,
    }


TRANSFORMER_LOSSES = [
    2.1750619411468506,
    2.118189811706543,
    2.054130792617798,
    1.9671452045440674,
    1.7181164026260376,
    1.5462528467178345,
    1.557677149772644,
    1.4220746755599976,
    1.3917983770370483,
    1.379172921180725,
]
TRANSFORMER_AMP_LOSSES = [
    2.1752195358276367,
    2.1184635162353516,
    2.0550050735473633,
    1.9672002792358398,
    1.7187917232513428,
    1.5465606451034546,
    1.5572696924209595,
    1.4229527711868286,
    1.3919280767440796,
    1.3798714876174927,
]
TRANSFORMER_LRS = [
    0.0016666666666666668,
    0.0033333333333333335,
    0.005,
    0.004444444444444444,
    0.003888888888888889,
    0.0033333333333333335,
    0.002777777777777778,
    0.0022222222222222222,
    0.0016666666666666668,
    0.0011111111111111111,
    0.0005555555555555556,
    0.0,
]


def test_transformer_lm_fp32() -> None:
    r = program_transformer_lm(dm, amp=False)
    assert_traj(r["losses"], TRANSFORMER_LOSSES)
    np.testing.assert_allclose(r["lrs"], TRANSFORMER_LRS, rtol=1e-12, atol=1e-15)
    assert r["dtypes"] == (dm.float32, dm.float32)
    expected_mask = np.triu(np.full((8, 8), -np.inf), 1)
    np.testing.assert_array_equal(r["mask"], expected_mask)
    assert r["out"].shape == (1, 8, 8)


def test_transformer_lm_bf16_autocast() -> None:
    """Under CPU autocast the logits are bfloat16, the loss float32 and the weights stay
    float32; the trajectory tracks the float32 one to bfloat16 accuracy."""
    r = program_transformer_lm(dm, amp=True)
    assert r["dtypes"] == (dm.bfloat16, dm.float32)
    assert r["param_dtype"] == dm.float32
    assert_traj(r["losses"], TRANSFORMER_AMP_LOSSES, rtol=2e-3)  # PyTorch's bfloat16 run
    assert_traj(r["losses"], TRANSFORMER_LOSSES, rtol=2e-2)
    assert r["losses"][-1] < r["losses"][0]
