"""Random agents through the PettingZoo interfaces: a ParallelEnv episode, then the same game as an AECEnv."""

import argparse

import mettagrid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000, help="episode length (the arena's max_steps)")
    parser.add_argument("--preset", default="arena", help="a preset name: navigation, arena, arena_combat, teams")
    args = parser.parse_args()

    # ParallelEnv: every live agent acts at once; all agents finish together at the time limit.
    env = mettagrid.parallel_env(args.preset, seed=0, max_steps=args.steps)
    observations, infos = env.reset(seed=42)
    returns = dict.fromkeys(env.agents, 0.0)
    while env.agents:
        actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)
        for agent, r in rewards.items():
            returns[agent] += r
    some = next(iter(infos))
    print(f"parallel: {len(returns)} agents, mean return {sum(returns.values()) / len(returns):.3f}, "
          f"{some}: episode_length={infos[some]['episode_length']}, state {env.state().shape}")
    env.close()

    # AECEnv: agents act in turn; the game steps once the last live agent has chosen.
    aec = mettagrid.aec_env(args.preset, seed=0, max_steps=args.steps)
    aec.reset(seed=42)
    turns = 0
    for agent in aec.agent_iter():
        observation, reward, termination, truncation, info = aec.last()
        aec.step(None if termination or truncation else aec.action_space(agent).sample())
        turns += 1
    print(f"aec: {turns} turns")
    aec.close()


if __name__ == "__main__":
    main()
