"""The agent loop end to end: `Agent(planner, memory, env).run(task)` with the symbolic planner,
a real `OfflineController`, a real `EmbodiedMemory` and real ALFRED valid-seen tasks. Success
on two task types, the no-peek guarantee (nothing reaches the memory or the planner before the
agent saw it), unsatisfiable goals, step bounds, input validation, determinism, experience
across episodes, and the verifier's reject-and-replan loop with scripted planners."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from embodmem import EmbodiedMemory
from embodmem.errors import EmbodmemError, ValidationError
from embodmem.planning import (
    Agent,
    EpisodeResult,
    Plan,
    PlanRecord,
    PlanRequest,
    Skill,
    SymbolicPlanner,
    TaskSpec,
    make_planner,
)
from embodmem.planning.agent import IDLE_LIMIT
from embodmem.planning.executor import STALE, STEP_NS
from embodmem.types import Observation
from sim.offline import OfflineController
from sim.scenes import scene_objects
from sim.tasks import GoalResult, Task, load_alfred_default
from sim.tasks.session import AlfredSession

# Valid-seen tasks the symbolic planner solves in a few dozen THOR actions.
LOOK_AT = "trial_T20190907_154618_526741"  # FloorPlan302: look at an object under a lamp
PICK_PLACE = "trial_T20190907_164104_229696"  # FloorPlan224: pick one thing, put it somewhere
# FloorPlan207: a look_at task, then a pick_and_place task in the same scene.
SAME_SCENE = ("trial_T20190907_031918_448619", "trial_T20190909_153609_373481")
# FloorPlan213: two look_at tasks with the same FloorLamp; the first switches it on.
LAMP_TWICE = ("trial_T20190908_203806_730562", "trial_T20190907_070857_687585")
# FloorPlan204: the start pose stands among the chairs of a dining table.
AMONG_CHAIRS = "trial_T20190908_133349_808774"
MAX_STEPS = 300
UNKNOWN = "O999999"  # a node id no memory in these tests holds


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tasks() -> dict[str, Task]:
    """The vendored ALFRED valid-seen tasks by id."""
    return {t.task_id: t for t in load_alfred_default()}


@pytest.fixture(scope="module")
def look_at(tasks: dict[str, Task]) -> Task:
    """A look_at_obj_in_light task the symbolic planner solves."""
    return tasks[LOOK_AT]


@pytest.fixture(scope="module")
def pick_place(tasks: dict[str, Task]) -> Task:
    """A pick_and_place_simple task the symbolic planner solves."""
    return tasks[PICK_PLACE]


def episode(
    task: Any,
    planner: Any = None,
    memory: EmbodiedMemory | None = None,
    env: OfflineController | None = None,
    max_steps: int = MAX_STEPS,
    **options: Any,
) -> EpisodeResult:
    """One agent episode (symbolic planner, fresh memory and simulator unless given)."""
    agent = Agent(
        planner if planner is not None else make_planner("symbolic"),
        memory if memory is not None else EmbodiedMemory(),
        env if env is not None else OfflineController(),
        **options,
    )
    return agent.run(task, max_steps=max_steps)


def snapshot(memory: EmbodiedMemory) -> tuple[Any, ...]:
    """What a failed call must leave as it was: sizes, node ids and states, experience."""
    nodes = tuple((n.node_id, n.label, repr(n.states)) for n in memory.scene_graph.objects())
    return (repr(memory.stats()), nodes, len(memory.experience), memory.last_time_ns)


def primed_memory(task: Task) -> EmbodiedMemory:
    """A memory that took in the task's first view (so 'unchanged' means something)."""
    session = task.start(OfflineController())
    memory = EmbodiedMemory()
    memory.integrate(session.observe(session.event, 0))
    assert memory.scene_graph.objects()
    return memory


def unsatisfiable_copy(task: Task, role: str, otype: str) -> Task:
    """The task with the goal's `role` target replaced by a type its scene lacks."""
    assert otype not in {o["objectType"] for o in scene_objects(task.scene).values()}
    targets = {**task.goal.targets, role: otype}
    pddl_key = {"object": "object_target", "parent": "parent_target", "toggle": "toggle_target"}
    return dataclasses.replace(
        task,
        goal=dataclasses.replace(task.goal, targets=targets),
        pddl_params={**task.pddl_params, pddl_key[role]: otype},
    )


# --- success on real tasks ----------------------------------------------------------------------


@pytest.mark.parametrize("task_id", [LOOK_AT, PICK_PLACE])
def test_the_symbolic_agent_solves_a_valid_seen_task(tasks: dict[str, Task], task_id: str) -> None:
    task = tasks[task_id]
    memory = EmbodiedMemory()
    result = episode(task, memory=memory)
    assert result.success and result.reason == "done"
    assert isinstance(result.goal, GoalResult)
    assert result.goal.success and result.goal.met == result.goal.total > 0
    assert result.goal.unmet == () and result.goal.unsatisfiable == ()
    assert 0 < result.steps <= MAX_STEPS
    assert result.steps == len(result.log) == result.log[-1].step
    assert 0 <= result.failed_actions == sum(not r.success for r in result.log)
    assert result.llm_calls == 0 and result.llm_tokens == 0
    assert result.prompt_tokens == result.completion_tokens == 0
    assert result.wall_s > 0
    assert result.task_id == task_id
    assert result.skills and "-> failed" not in result.skills[-1]
    assert result.memory == memory.stats() and result.memory["objects"] > 0
    assert result.memory["observations"] == result.steps + 1  # the first view, then each action
    assert result.recalled == ()  # a fresh memory remembers nothing from before
    assert result.plans and all(p.shown and not p.rejected for p in result.plans)
    assert len(memory.experience) == 1


# FloorPlan4: the movable receptacle stands in the fridge the plan opens to put into it.
IN_THE_OPENED_FRIDGE = "trial_T20190908_192636_561572"
# FloorPlan8: the apple to slice lies on a counter whose cabinets block the planned vantage.
BEHIND_CABINETS = "trial_T20190909_002950_338362"


def test_a_plan_does_not_open_again_what_it_opened(tasks: dict[str, Task]) -> None:
    result = episode(tasks[IN_THE_OPENED_FRIDGE], max_steps=600)
    assert result.success, result.reason
    assert not any(p.rejected for p in result.plans)
    for record in result.plans:  # between an open and a close of a node, no second open
        opened: set[str] = set()
        for step in record.plan:
            name, _, arg = step.partition("(")
            if name == "open":
                assert arg not in opened, record.plan
                opened.add(arg)
            elif name == "close":
                opened.discard(arg)


def test_a_blocked_walk_that_already_sees_its_target_stops_there(tasks: dict[str, Task]) -> None:
    result = episode(tasks[BEHIND_CABINETS], max_steps=600)
    assert result.success, result.reason
    assert not any("not in view from any cell" in s for s in result.skills)


# --- no peeking ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Spy:
    """Wraps a task's session and the agent's memory and planner to record, step by step, what
    the simulator knew, what the agent was shown and what reached the memory and the planner."""

    task: Task
    memory: EmbodiedMemory
    planner: SymbolicPlanner = dataclasses.field(default_factory=SymbolicPlanner)
    name: str = "spy"
    step: int = -1
    first_seen: dict[str, int] = dataclasses.field(default_factory=dict)  # THOR id -> step
    added: dict[str, int] = dataclasses.field(default_factory=dict)  # node id -> step
    peeks: list[str] = dataclasses.field(default_factory=list)  # invisible objects shown
    integrated: list[Observation] = dataclasses.field(default_factory=list)
    observed: list[Observation] = dataclasses.field(default_factory=list)
    scene_ids: set[str] = dataclasses.field(default_factory=set)
    planner_views: list[tuple[int, set[str], set[str]]] = dataclasses.field(default_factory=list)

    def start(self, env: Any, perception: str = "metadata") -> AlfredSession:
        """The real session, its `observe` wrapped; the memory's `integrate` too."""
        session = self.task.start(env, perception=perception)
        observe, integrate = session.observe, self.memory.integrate

        def spy_observe(event: Any, time_ns: int) -> Observation:
            obs = observe(event, time_ns)
            self.step = time_ns // STEP_NS
            visible = {o["objectId"]: o["visible"] for o in event.metadata["objects"]}
            self.scene_ids |= set(visible)
            for o in obs.objects:
                if visible.get(o.id_hint) is not True:
                    self.peeks.append(f"step {self.step}: {o.id_hint}")
                self.first_seen.setdefault(o.id_hint, self.step)
            self.observed.append(obs)
            return obs

        def spy_integrate(obs: Observation) -> Any:
            self.integrated.append(obs)
            report = integrate(obs)
            for node_id in report.new:
                self.added.setdefault(node_id, self.step)
            return report

        session.observe = spy_observe  # type: ignore[method-assign]
        self.memory.integrate = spy_integrate  # type: ignore[method-assign]
        return session

    def reset(self, task: TaskSpec, memory: EmbodiedMemory) -> None:
        self.planner.reset(task, memory)

    def plan(self, request: PlanRequest) -> Plan:
        """Record the THOR ids of every node the planner is shown, then plan symbolically."""
        shown = {sid for n in request.memory.scene_graph.objects() for sid in n.source_ids}
        plan = self.planner.plan(request)
        named = {
            sid
            for s in plan.skills
            for node_id in s.args().values()
            for sid in request.memory.scene_graph.object(node_id).source_ids
        }
        self.planner_views.append((self.step, shown, named))
        return plan


def test_no_object_reaches_the_memory_or_the_planner_before_the_agent_saw_it(
    pick_place: Task,
) -> None:
    memory = EmbodiedMemory()
    spy = Spy(pick_place, memory)
    result = Agent(spy, memory, OfflineController()).run(spy, max_steps=MAX_STEPS)
    assert result.success and result.steps > 0

    # The memory took in exactly the observations the agent received, one a step.
    assert len(spy.observed) == len(spy.integrated) == result.steps + 1
    assert all(a is b for a, b in zip(spy.observed, spy.integrated, strict=True))
    # (b) Every object shown was one the simulator reported visible at that step.
    assert spy.peeks == []
    # (a) Every remembered object came in through integrate, and each of its THOR ids had been
    # observed at or before the step its node was added.
    nodes = memory.scene_graph.objects()
    assert {n.node_id for n in nodes} == set(spy.added)
    for node in nodes:
        assert node.source_ids
        for sid in node.source_ids:
            assert sid in spy.first_seen, f"{node.node_id} ({sid}) was never observed"
            assert spy.first_seen[sid] <= spy.added[node.node_id]
    # The planner was only ever shown (and only ever named) objects seen by then.
    assert len(spy.planner_views) == len(result.plans)
    for step, shown, named in spy.planner_views:
        seen = {sid for sid, first in spy.first_seen.items() if first <= step}
        assert shown <= seen and named <= shown
    # (c) The check has teeth: a good part of the scene was never in view.
    unseen = spy.scene_ids - set(spy.first_seen)
    assert len(unseen) >= 15 and len(unseen) >= len(spy.scene_ids) // 4
    assert not unseen & {sid for n in nodes for sid in n.source_ids}


# --- unsatisfiable goals and bounds -------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_id", "role", "otype", "missing"),
    [
        (LOOK_AT, "object", "Egg", "no pickupable Egg in the scene"),
        (PICK_PLACE, "parent", "Microwave", "no receptacle Microwave in the scene"),
    ],
)
def test_an_unsatisfiable_goal_ends_the_episode_at_once(
    tasks: dict[str, Task], task_id: str, role: str, otype: str, missing: str
) -> None:
    task = unsatisfiable_copy(tasks[task_id], role, otype)
    planner = Scripted(put_unknown, bad=0)  # records every planner call
    result = episode(task, planner=planner)
    assert result.reason == f"unsatisfiable: {missing}"
    assert result.reason.startswith("unsatisfiable")
    assert not result.success and not result.goal.success
    assert result.goal.unsatisfiable == (missing,)
    assert result.steps == 0 and result.log == () and result.skills == ()
    assert result.plans == () and planner.requests == []


def test_max_steps_bounds_an_episode(look_at: Task) -> None:
    result = episode(look_at, max_steps=5)
    assert result.steps == 5 and len(result.log) == 5
    assert result.reason == "max_steps (5) reached"
    assert not result.success


def test_max_steps_zero_takes_no_action(look_at: Task) -> None:
    memory = EmbodiedMemory()
    result = episode(look_at, memory=memory, max_steps=0)
    assert result.steps == 0 and result.log == ()
    assert result.reason == "max_steps (0) reached"
    assert not result.success
    assert memory.observations == 1  # the first view only


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "options", "field"),
    [
        ((object(), "memory", "env"), {}, "planner"),
        (("planner", object(), "env"), {}, "memory"),
        (("planner", {"objects": []}, "env"), {}, "memory"),
        (("planner", "memory", object()), {}, "env"),
        (("planner", "memory", None), {}, "env"),
        (("planner", "memory", "env"), {"perception": "xray"}, "perception"),
        (("planner", "memory", "env"), {"max_rejections": True}, "max_rejections"),
        (("planner", "memory", "env"), {"max_rejections": "3"}, "max_rejections"),
    ],
)
def test_a_bad_agent_argument_is_a_validation_error_naming_it(
    look_at: Task, args: tuple[Any, ...], options: dict[str, Any], field: str
) -> None:
    memory = primed_memory(look_at)
    before = snapshot(memory)
    real = {"planner": make_planner("symbolic"), "memory": memory, "env": OfflineController()}
    with pytest.raises(ValidationError) as err:
        Agent(*(real.get(a, a) if isinstance(a, str) else a for a in args), **options)
    assert err.value.field == field
    assert snapshot(memory) == before


@pytest.mark.parametrize(
    ("task", "max_steps", "field"),
    [
        (None, -1, "max_steps"),
        (None, True, "max_steps"),
        (None, False, "max_steps"),
        (None, "10", "max_steps"),
        (None, 2.5, "max_steps"),
        (object(), 10, "task"),
        ("FloorPlan1", 10, "task"),
    ],
)
def test_a_bad_run_argument_is_a_validation_error_and_leaves_memory_alone(
    look_at: Task, task: Any, max_steps: Any, field: str
) -> None:
    memory = primed_memory(look_at)
    before = snapshot(memory)
    agent = Agent(make_planner("symbolic"), memory, OfflineController())
    with pytest.raises(ValidationError) as err:
        agent.run(look_at if task is None else task, max_steps=max_steps)
    assert err.value.field == field
    assert snapshot(memory) == before


def test_an_unknown_planner_name_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as err:
        make_planner("nope")
    assert err.value.field == "planner" and err.value.value == "nope"


# --- determinism and experience -----------------------------------------------------------------


def test_the_same_task_twice_with_fresh_memories_runs_the_same(pick_place: Task) -> None:
    a, b = episode(pick_place), episode(pick_place)
    assert a.success and b.success
    assert (a.steps, a.failed_actions, a.skills, a.reason) == (
        b.steps,
        b.failed_actions,
        b.skills,
        b.reason,
    )
    assert [r.action for r in a.log] == [r.action for r in b.log]
    assert a.plans == b.plans and a.memory == b.memory


def test_a_second_task_in_the_same_scene_recalls_the_first(tasks: dict[str, Task]) -> None:
    first, second = (tasks[t] for t in SAME_SCENE)
    assert first.scene == second.scene
    memory, env = EmbodiedMemory(), OfflineController()
    r1 = episode(first, memory=memory, env=env)
    known = {n.node_id for n in memory.scene_graph.objects()}
    assert r1.recalled == () and len(memory.experience) == 1
    r2 = episode(second, memory=memory, env=env)
    assert r1.success and r2.success
    assert r2.recalled and set(r2.recalled) <= known
    used = {a for s in r2.skills for a in s[s.index("(") + 1 : s.index(")")].split(", ") if a}
    assert set(r2.recalled) <= used
    assert len(memory.experience) == 2
    assert [e.task_type for e in memory.experience.episodes] == [first.task_type, second.task_type]
    assert all(e.success for e in memory.experience.episodes)


def test_a_second_episode_observes_after_everything_the_memory_saw(
    tasks: dict[str, Task],
) -> None:
    """The clock carries on across episodes, so newer evidence (an object seen missing) wins."""
    memory, env = EmbodiedMemory(), OfflineController()
    episode(tasks[SAME_SCENE[0]], memory=memory, env=env)
    first_end = memory.last_time_ns
    assert first_end is not None
    r2 = episode(tasks[SAME_SCENE[1]], memory=memory, env=env)
    assert memory.last_time_ns == first_end + STEP_NS * (1 + r2.steps)


# FloorPlan1: a movable-receptacle task, then two cool tasks; ALFRED lays the plates out anew.
KITCHEN_SEQUENCE = (
    "trial_T20190908_103955_680867",
    "trial_T20190908_042713_075616",
    "trial_T20190906_205324_559361",
)


def test_a_remembered_object_missing_from_its_place_is_walked_to_once(
    tasks: dict[str, Task],
) -> None:
    memory, env = EmbodiedMemory(), OfflineController()
    results = [episode(tasks[t], memory=memory, env=env, max_steps=1000) for t in KITCHEN_SEQUENCE]
    assert all(r.success for r in results), [r.reason for r in results]
    stale = [s for s in results[-1].skills if s.endswith(STALE)]
    assert stale, "the plates remembered from the earlier episodes were looked for"
    walked = [s[: s.index(")")] for s in stale]
    assert len(walked) == len(set(walked)), stale


def test_learn_false_keeps_the_experience_memory_empty(pick_place: Task) -> None:
    memory = EmbodiedMemory()
    result = episode(pick_place, memory=memory, learn=False)
    assert result.success and len(memory.experience) == 0


def test_a_lamp_remembered_on_from_an_earlier_episode_is_switched_on_again(
    tasks: dict[str, Task],
) -> None:
    first, second = (tasks[t] for t in LAMP_TWICE)
    memory, env = EmbodiedMemory(), OfflineController()
    assert episode(first, memory=memory, env=env).success
    result = episode(second, memory=memory, env=env)
    assert result.reason != "done" or result.success


def test_explore_walks_out_of_a_start_pose_among_chairs(tasks: dict[str, Task]) -> None:
    """Regression: the chairs' grown footprints cover every cell round the start; explore used
    to call the whole floor looked over after one look-around (4 steps)."""
    result = episode(tasks[AMONG_CHAIRS], max_steps=40)
    assert result.steps == 40 and result.reason == "max_steps (40) reached"
    assert any(r.action["action"] == "MoveAhead" and r.success for r in result.log)


# --- the verifier loop with scripted planners ---------------------------------------------------


@dataclasses.dataclass
class Scripted:
    """A Planner: answers its first `bad` calls with `make_bad(request)`, then plans like the
    symbolic planner; keeps every request it was sent."""

    make_bad: Callable[[PlanRequest], tuple[Skill, ...]]
    bad: int = 1
    name: str = "scripted"
    inner: SymbolicPlanner = dataclasses.field(default_factory=SymbolicPlanner)
    requests: list[PlanRequest] = dataclasses.field(default_factory=list)

    def reset(self, task: TaskSpec, memory: EmbodiedMemory) -> None:
        self.requests.clear()
        self.inner.reset(task, memory)

    def plan(self, request: PlanRequest) -> Plan:
        self.requests.append(request)
        if len(self.requests) <= self.bad:
            return Plan(self.make_bad(request), shown="scripted bad plan")
        return self.inner.plan(request)


def put_unknown(request: PlanRequest) -> tuple[Skill, ...]:
    """A put into a node the memory does not have."""
    return (Skill("put", receptacle=UNKNOWN),)


def pickup_twice(request: PlanRequest) -> tuple[Skill, ...]:
    """Two pickups of a visible pickupable object: the second one with a full hand."""
    node = min(
        n.node_id for n in request.memory.scene_graph.objects() if n.attributes.get("pickupable")
    )
    return (Skill("navigate_to", target=node), Skill("pickup", target=node)) * 2


def test_a_rejected_plan_goes_back_with_the_reason_and_the_next_one_runs(look_at: Task) -> None:
    planner = Scripted(put_unknown)
    result = episode(look_at, planner=planner)
    why = f"plan step 0 put: receptacle {UNKNOWN} is not in memory"
    assert result.plans[0] == PlanRecord(0, "scripted bad plan", (f"put({UNKNOWN})",), why)
    assert planner.requests[0].feedback == ()
    assert planner.requests[1].feedback == (why,)
    assert planner.requests[1].history == () and planner.requests[1].steps_left == MAX_STEPS
    assert not result.plans[1].rejected and result.plans[1].step == 0
    assert result.success and result.reason == "done"
    assert not any(UNKNOWN in s for s in result.skills)


def test_a_pickup_with_a_full_hand_is_rejected_at_its_step(look_at: Task) -> None:
    planner = Scripted(pickup_twice)
    result = episode(look_at, planner=planner)
    bad = planner.make_bad(planner.requests[0])
    node = bad[1].target
    label = planner.requests[0].memory.scene_graph.object(node).label
    why = f"plan step 3 pickup: the hand already holds {node} ({label})"
    assert result.plans[0].rejected == why
    assert planner.requests[1].feedback == (why,)
    assert result.plans[0].plan == tuple(f"{s.name}({node})" for s in bad)
    assert result.success and not result.plans[1].rejected  # the symbolic plan that followed


@pytest.mark.parametrize("max_rejections", [0, 3, 5])
def test_a_planner_that_is_always_rejected_ends_the_episode(
    look_at: Task, max_rejections: int
) -> None:
    planner = Scripted(put_unknown, bad=10**9)
    result = episode(look_at, planner=planner, max_rejections=max_rejections)
    why = f"plan step 0 put: receptacle {UNKNOWN} is not in memory"
    tries = max_rejections + 1
    assert result.reason == f"plan rejected {tries} times: {why}"
    assert not result.success and result.steps == 0 and result.skills == ()
    assert len(result.plans) == len(planner.requests) == tries
    assert all(p.rejected == why for p in result.plans)
    assert planner.requests[-1].feedback == (why,) * (tries - 1)


def test_with_the_verifier_off_an_infeasible_planner_is_stopped_as_stuck(look_at: Task) -> None:
    planner = Scripted(put_unknown, bad=10**9)
    result = episode(look_at, planner=planner, verifier=False)
    assert result.reason == f"stuck: {IDLE_LIMIT} plans in a row ran no action"
    assert result.steps == 0 and len(planner.requests) == IDLE_LIMIT
    assert len(result.skills) == IDLE_LIMIT
    assert all(s.startswith(f"put({UNKNOWN}) -> failed: ") for s in result.skills)
    assert all(not p.rejected for p in result.plans)


def test_a_planner_error_ends_the_episode_with_its_message(look_at: Task) -> None:
    class Broken(Scripted):
        def plan(self, request: PlanRequest) -> Plan:
            raise EmbodmemError("endpoint down")

    result = episode(look_at, planner=Broken(put_unknown))
    assert result.reason == "planner error: endpoint down"
    assert result.steps == 0 and not result.success


# FloorPlan26: heat an apple in the microwave; the agent segments its frames itself.
HEAT_APPLE = "trial_T20190907_060234_011675"


def test_segmentation_perception_works_on_a_bare_controller(tasks: dict[str, Task]) -> None:
    """The session asks the controller for frames; what the agent put into the microwave is
    taken out again although the microwave's box hides it from the frame."""
    task = tasks[HEAT_APPLE]
    result = episode(task, env=OfflineController(task.scene), perception="segmentation")
    assert result.success, result.reason
    assert any(s.startswith("heat(") and "failed" not in s for s in result.skills)
