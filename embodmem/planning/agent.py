"""The agent loop: one planner, one memory, one THOR-compatible environment.

    agent = Agent(make_planner("symbolic"), EmbodiedMemory(), OfflineController())
    result = agent.run(task, max_steps=1000)   # task: e.g. a sim.tasks.Task (ALFRED)

`run` starts the episode with `task.start(env, perception=...)` (an ALFRED task runs
`start_episode`), then asks the planner for a plan, checks it with the verifier (a rejected plan
goes back with the reason, a bounded number of times), and runs its skills as THOR actions
through the `Executor`, which feeds every observation to `EmbodiedMemory.integrate`. The planner
is asked again after a failed skill, after an `explore`, and when its plan is used up; `done`
ends the episode. With `learn`, each finished episode goes into the memory's experience
(`embodmem.experience`) and each new one starts from the floor blocks experience remembers. The
planner and the memory see only observations and action feedback; the goal is checked on the
full state by the task's session, once, at the end. Every episode is bounded by `max_steps` THOR
actions and the planner's own call budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from embodmem.errors import EmbodmemError, ValidationError
from embodmem.experience import Episode
from embodmem.memory import EmbodiedMemory
from embodmem.planning.executor import BudgetSpent, Executor, StepRecord
from embodmem.planning.protocol import Plan, Planner, PlanRequest, TaskSpec
from embodmem.planning.scope import MemoryScope
from embodmem.planning.skills import Skill
from embodmem.planning.verifier import verify

MAX_PLANS = 400  # planner calls per episode (each plan runs at least one skill)
IDLE_LIMIT = 8  # plans in a row that ran no THOR action before the episode is called stuck


class Startable(Protocol):
    """A task the agent can start in an environment (`sim.tasks.Task` is one)."""

    def start(self, env: Any, perception: str = "metadata") -> Any: ...


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """One planner call in the step log: at which step, what it was shown, what it answered,
    and the verifier's verdict (empty when the plan passed)."""

    step: int
    shown: str
    plan: tuple[str, ...]
    rejected: str = ""


@dataclass(frozen=True)
class EpisodeResult:
    """The outcome of one episode: the goal check, the THOR actions taken (`steps`, failed
    ones), the skills run, the planner's LLM calls and tokens, wall time, memory sizes, what the
    memory contributed (nodes the plan used that were remembered from before the episode), the
    reason it ended, and the step and plan logs."""

    task_id: str
    success: bool
    goal: Any  # the task's GoalResult (met / total / unmet)
    steps: int
    failed_actions: int
    skills: tuple[str, ...]
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    wall_s: float
    reason: str
    memory: dict[str, Any] = field(default_factory=dict)
    recalled: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    log: tuple[StepRecord, ...] = ()
    plans: tuple[PlanRecord, ...] = ()

    @property
    def llm_tokens(self) -> int:
        """Prompt plus completion tokens over the episode."""
        return self.prompt_tokens + self.completion_tokens


class Agent:
    """Runs tasks with `planner` in `env`, remembering in `memory`; see the module docstring."""

    def __init__(
        self,
        planner: Planner,
        memory: EmbodiedMemory,
        env: Any,
        *,
        perception: str = "metadata",
        verifier: bool = True,
        max_rejections: int = 3,
        learn: bool = True,
        memory_scope: str = "full",
    ) -> None:
        if not callable(getattr(planner, "plan", None)):
            raise ValidationError("planner", type(planner).__name__, "expected a Planner")
        if not isinstance(memory, EmbodiedMemory):
            raise ValidationError("memory", type(memory).__name__, "expected an EmbodiedMemory")
        if not callable(getattr(env, "step", None)):
            raise ValidationError("env", type(env).__name__, "expected a controller with step()")
        if perception not in ("metadata", "segmentation"):
            raise ValidationError("perception", perception, "expected metadata or segmentation")
        if isinstance(max_rejections, bool) or not isinstance(max_rejections, int):
            raise ValidationError("max_rejections", max_rejections, "expected an integer >= 0")
        self.planner, self.memory, self.env = planner, memory, env
        self.perception = perception
        self.verifier = verifier
        self.max_rejections = max(0, max_rejections)
        self.learn = learn
        MemoryScope(memory_scope)  # checks the name now, not in the first episode
        self.memory_scope = memory_scope

    def run(
        self,
        task: Startable,
        max_steps: int = 1000,
        resume: bool = False,
        on_step: Callable[[StepRecord], None] | None = None,
    ) -> EpisodeResult:
        """Run one episode of `task` (started here) within `max_steps` THOR actions; `resume`
        marks a later task of the same episode (the memory scope does not start afresh);
        `on_step` is called after every THOR action (e.g. `embodmem.trace.MemoryTrace`)."""
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
            raise ValidationError("max_steps", max_steps, "expected an integer >= 0")
        if not callable(getattr(task, "start", None)):
            raise ValidationError("task", type(task).__name__, "expected a task with start(env)")
        t0 = time.perf_counter()
        session = task.start(self.env, perception=self.perception)
        spec: TaskSpec = session.spec
        self.memory.short_term.set_goal(spec.instruction.strip() or None)  # for goal-aware policies
        scope = MemoryScope(self.memory_scope)
        scope.begin(self.memory, resume=resume)
        remembered = {n.node_id for n in self.memory.scene_graph.objects()}
        ex = Executor(
            self.env,
            session,
            self.memory,
            max_steps,
            scope=scope,
            on_step=on_step,
            experience=self.learn,
        )
        ex.start()
        run = _Run(self, ex, spec)
        missing = session.unsatisfiable()
        reason = "unsatisfiable: " + "; ".join(missing) if missing else run.loop()
        goal = session.check()
        scope.end(self.memory)
        used = {n for s, _ in run.history for n in s.args().values()}
        result = EpisodeResult(
            task_id=spec.task_id,
            success=bool(goal.success),
            goal=goal,
            steps=ex.steps,
            failed_actions=sum(not r.success for r in ex.log),
            skills=tuple(_fmt(s, why) for s, why in run.history),
            llm_calls=run.calls,
            prompt_tokens=run.prompt_tokens,
            completion_tokens=run.completion_tokens,
            wall_s=time.perf_counter() - t0,
            reason=reason,
            memory=self.memory.stats(),
            recalled=tuple(sorted(used & remembered)),
            failures=tuple(ex.failures),
            log=tuple(ex.log),
            plans=tuple(run.plans),
        )
        if self.learn:
            self.memory.experience.add(_episode(spec, run, ex, result))
        return result


class _Run:
    """The state of one episode's plan / verify / execute loop."""

    def __init__(self, agent: Agent, ex: Executor, spec: TaskSpec) -> None:
        self.agent, self.ex, self.spec = agent, ex, spec
        self.history: list[tuple[Skill, str | None]] = []
        self.feedback: list[str] = []
        self.plans: list[PlanRecord] = []
        self.calls = self.prompt_tokens = self.completion_tokens = 0
        agent.planner.reset(spec, agent.memory)

    def loop(self) -> str:
        """Plan and act until done, stuck or out of budget; returns why the episode ended."""
        idle = 0
        try:
            for _ in range(MAX_PLANS):
                before = self.ex.steps
                plan = self._verified_plan()
                if not plan.skills:
                    return plan.reason or f"the {self.agent.planner.name} planner gave up"
                for skill in plan.skills:
                    if skill.name == "done":
                        return "done"
                    why = self.ex.run(skill)
                    self.history.append((skill, why))
                    if why is not None:
                        self.feedback.append(why)
                        break
                    if skill.name == "explore":
                        break
                idle = idle + 1 if self.ex.steps == before else 0
                if idle >= IDLE_LIMIT:
                    return f"stuck: {IDLE_LIMIT} plans in a row ran no action"
            return f"stopped after {MAX_PLANS} plans"
        except BudgetSpent:
            return f"max_steps ({self.ex.max_steps}) reached"
        except EmbodmemError as exc:  # an LLM endpoint that is down, a cassette miss...
            return f"planner error: {exc}"

    def _request(self) -> PlanRequest:
        return PlanRequest(
            task=self.spec,
            memory=self.agent.memory,
            held=self.ex.held_node(),
            position=self.ex.position(),
            history=tuple(self.history),
            feedback=tuple(self.feedback),
            steps_left=self.ex.max_steps - self.ex.steps,
        )

    def _verified_plan(self) -> Plan:
        """The planner's plan, sent back with the verifier's reason while it is infeasible."""
        why = ""
        for _ in range(self.agent.max_rejections + 1):
            plan = self.agent.planner.plan(self._request())
            self.calls += plan.llm_calls
            self.prompt_tokens += plan.prompt_tokens
            self.completion_tokens += plan.completion_tokens
            shown = tuple(s.call() for s in plan.skills)
            bad = None
            if plan.skills and self.agent.verifier:
                bad = verify(plan.skills, self._nodes(), self.ex.held_node())
            if bad is None:
                self.plans.append(PlanRecord(self.ex.steps, plan.shown, shown))
                return plan
            why = f"plan step {bad.step} {bad.skill.name}: {bad.reason}"
            self.plans.append(PlanRecord(self.ex.steps, plan.shown, shown, why))
            self.feedback.append(why)
        return Plan((), reason=f"plan rejected {self.agent.max_rejections + 1} times: {why}")

    def _nodes(self) -> dict[str, Any]:
        g = self.agent.memory.scene_graph
        return {n.node_id: n for n in [*g.objects(), *g.places()]}


def _fmt(skill: Skill, why: str | None) -> str:
    text = skill.call()
    return text if why is None else f"{text} -> failed: {why}"


def _episode(spec: TaskSpec, run: _Run, ex: Executor, result: EpisodeResult) -> Episode:
    """The experience record of a finished episode, in memory terms (types, not ids)."""
    g = ex.memory.scene_graph
    plan = []
    for skill, why in run.history:
        if why is None:
            labels = [g.object(n).label if n in g else n for n in skill.args().values()]
            plan.append(f"{skill.name}({', '.join(labels)})")
    return Episode(
        task=spec.instruction or spec.task_type or "task",
        task_type=spec.task_type,
        types=tuple(dict.fromkeys(spec.targets.values())),
        plan=tuple(plan),
        success=result.success,
        steps=result.steps,
        failures=tuple(ex.failures[-20:]),
        found=tuple(ex.found),
        blocked=tuple(ex.floor.blocked_points()),
        unreached=tuple(sorted(set(ex.out_of_reach))),
        time_ns=time.time_ns(),
    )
