"""PyTorch's examples/reinforcement_learning/reinforce.py (a policy gradient with
torch.distributions.Categorical), with a small built-in environment instead of gym's
CartPole. Identical to the PyTorch program except the imports: `torch` -> `democratising`."""

# ruff: noqa - PyTorch's code as its authors wrote it, style included

import argparse
from collections import deque

import numpy as np

import democratising as torch
import democratising.nn as nn
import democratising.nn.functional as F
import democratising.optim as optim
from democratising.distributions import Categorical

parser = argparse.ArgumentParser(description="PyTorch REINFORCE example")
parser.add_argument("--gamma", type=float, default=0.99, metavar="G")
parser.add_argument("--seed", type=int, default=543, metavar="N")
parser.add_argument("--log-interval", type=int, default=10, metavar="N")
args = parser.parse_args([])


class Env:
    """Four noisy features; the right action is 1 when the first feature is positive. An
    episode lasts 20 steps or ends at the first wrong action; each right action earns 1."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def reset(self):
        self.t = 0
        self.state = self.rng.standard_normal(4)
        return self.state, {}

    def step(self, action):
        right = int(self.state[0] > 0) == action
        self.t += 1
        self.state = self.rng.standard_normal(4)
        return self.state, float(right), not right, self.t >= 20, {}


env = Env(args.seed)
torch.manual_seed(args.seed)


class Policy(nn.Module):
    def __init__(self):
        super(Policy, self).__init__()
        self.affine1 = nn.Linear(4, 128)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(128, 2)

        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        x = self.affine1(x)
        x = self.dropout(x)
        x = F.relu(x)
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=1)


policy = Policy()
optimizer = optim.Adam(policy.parameters(), lr=1e-2)
eps = np.finfo(np.float32).eps.item()


def select_action(state):
    state = torch.from_numpy(state).float().unsqueeze(0)
    probs = policy(state)
    m = Categorical(probs)
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


def finish_episode():
    R = 0
    policy_loss = []
    returns = deque()
    for r in policy.rewards[::-1]:
        R = r + args.gamma * R
        returns.appendleft(R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + eps)
    for log_prob, R in zip(policy.saved_log_probs, returns):
        policy_loss.append(-log_prob * R)
    optimizer.zero_grad()
    policy_loss = torch.cat(policy_loss).sum()
    policy_loss.backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]


def main():
    running_reward = 1
    first = None
    for i_episode in range(1, 201):
        state, _ = env.reset()
        ep_reward = 0
        for t in range(1, 10000):  # Don't infinite loop while learning
            action = select_action(state)
            state, reward, done, _, _ = env.step(action)
            policy.rewards.append(reward)
            ep_reward += reward
            if done:
                break

        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        if len(policy.rewards) > 1:
            finish_episode()
        else:
            del policy.rewards[:]
            del policy.saved_log_probs[:]
        if i_episode % args.log_interval == 0:
            print(
                "Episode {}\tLast reward: {:.2f}\tAverage reward: {:.2f}".format(
                    i_episode, ep_reward, running_reward
                )
            )
        if i_episode == 20:
            first = running_reward
        if running_reward > 15:
            print(
                "Solved! Running reward is now {} and the last episode runs to {} time steps!".format(
                    running_reward, t
                )
            )
            break
    assert running_reward > 2 * first, (first, running_reward)
    print(f"RESULT running reward {first:.2f} -> {running_reward:.2f}")


if __name__ == "__main__":
    main()
