"""The code the grader runs inside a submission's kernel, as source text.

Two pieces, executed by the grader, never seen in the student's notebook:

* :func:`preamble` runs before the first student cell. It sets the memory
  limit, takes hold of the check functions (so that a notebook that reassigns
  ``check.exercise_1`` changes nothing), and watches the reference solutions:
  ``course_utils.solutions`` is replaced in ``sys.modules`` by a module that
  records each attribute a student's code takes from it, and an audit hook
  (:func:`sys.addaudithook`) records fresh imports of it and reads of its
  source file. Each record names the cell (its execution count) or the
  exercise being graded.
* :func:`grading_call` runs after the last student cell, once per exercise:
  the check runs on the notebook's final namespace and its verdict, plus the
  records, is written as JSON to a file the grader named only then.

The state lives in a module registered under a random name, so that nothing
is added to the student's namespace. This guards against accidents and naive
faking, not against a student who deliberately patches the course package in
memory (see the Grading page of the website).
"""

from __future__ import annotations

import json

__all__ = ["preamble", "grading_call"]

_SETUP = r'''
def setup(token, memory_bytes, exercises):
    import json, os, resource, sys, types
    if memory_bytes:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import course_utils
    import course_utils.checks as checks
    import course_utils.solutions as real
    shell = get_ipython()
    package_dir = os.path.dirname(os.path.realpath(course_utils.__file__)) + os.sep
    solutions_file = os.path.realpath(real.__file__)
    # Frames of the tools that show tracebacks or source (IPython, linecache)
    # read files on the student's behalf or on their own: never the student.
    TOOLS = (os.sep + "IPython" + os.sep, os.sep + "stack_data" + os.sep, "linecache.py",
             "traceback.py", os.sep + "ipykernel" + os.sep)
    functions = {n: getattr(checks, "exercise_%d" % n) for n in exercises}
    state = {"grading": None, "uses": []}

    def student_code(depth):
        # Walk out of the import machinery and this file; the first other frame
        # decides: the course's own code (a check) is not the student's.
        frame = sys._getframe(depth)
        while frame is not None:
            name = frame.f_code.co_filename
            if not (name.startswith("<frozen") or name == "<course-grade>"
                    or any(part in name for part in TOOLS)):
                return not os.path.realpath(name).startswith(package_dir)
            frame = frame.f_back
        return False

    def record(what):
        where = ({"exercise": state["grading"]} if state["grading"] is not None
                 else {"cell": shell.execution_count})
        if len(state["uses"]) < 1000:
            state["uses"].append(dict(where, what=what))

    class Watched(types.ModuleType):
        def __getattr__(self, name):
            value = getattr(real, name)
            if not name.startswith("__") and student_code(2):
                record("course_utils.solutions.%s" % name)
            return value

        def __dir__(self):
            return dir(real)

    watched = Watched(real.__name__, real.__doc__)
    sys.modules[real.__name__] = watched
    course_utils.solutions = watched

    def hook(event, args):
        if event == "import" and str(args[0]).startswith("course_utils.solutions"):
            if student_code(2):
                record("import of course_utils.solutions")
        elif event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            try:
                path = os.path.realpath(os.fsdecode(args[0]))
            except (TypeError, ValueError, OSError):
                return
            if path == solutions_file and student_code(2):
                record("read the file of course_utils.solutions")

    sys.addaudithook(hook)

    def grade(number, path):
        state["grading"] = number
        try:
            feedback = functions[number](namespace=shell.user_ns)
            verdict = {"status": str(feedback.status), "title": str(feedback.title),
                       "messages": [str(m) for m in feedback.messages]}
        except BaseException as error:  # a check never raises; say so if one did
            verdict = {"status": "not checked", "title": "",
                       "messages": ["The check failed: %s." % type(error).__name__]}
        finally:
            state["grading"] = None
        verdict["uses"] = list(state["uses"])
        with open(path + ".part", "w", encoding="utf-8") as stream:
            json.dump(verdict, stream)
        os.replace(path + ".part", path)

    module = types.ModuleType("_course_grade_" + token)
    module.grade = grade
    sys.modules[module.__name__] = module
'''


def preamble(token: str, memory_bytes: int | None, exercises: tuple[int, ...]) -> str:
    """Source of the cell run before the student's first cell.

    Examples
    --------
    >>> "addaudithook" in preamble("abc", 2**30, (1, 2))
    True
    """
    call = f"setup({token!r}, {memory_bytes!r}, {tuple(exercises)!r})"
    return (f"exec(compile({_SETUP!r} + {call!r}, '<course-grade>', 'exec'), "
            "{'get_ipython': get_ipython})")


def grading_call(token: str, exercise: int, path: str) -> str:
    """Source of the cell that grades ``exercise`` and writes the verdict to ``path``.

    Examples
    --------
    >>> grading_call("abc", 3, "/tmp/x.json")
    '__import__("sys").modules["_course_grade_abc"].grade(3, "/tmp/x.json")'
    """
    return (f'__import__("sys").modules[{json.dumps("_course_grade_" + token)}]'
            f".grade({int(exercise)}, {json.dumps(path)})")
