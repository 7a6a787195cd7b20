# showroom's XML-RPC extension to supervisord: add one program from its own section text, without rereading every config file.
#
# supervisord loads it through `[rpcinterface:showroom]` in the main config
# (supervisor's documented extension point); showroomd writes this file next
# to that config and starts supervisord with PYTHONPATH naming its folder.
#
# Why: `reloadConfig` parses every section of every included file, so adding
# one demo's program costs time linear in the number of demos (0.4 s at
# 1000). `showroom.addProgram` parses only the new section, with supervisor's
# own parser and the same expansions `reloadConfig` applies, and then does
# what `addProcessGroup` does. The section is the one showroomd also writes
# to the included file, so a later `reloadConfig` finds it unchanged.
#
# It also hands each process state event to showroom's event listener at
# once: supervisord notes a process's exit at the end of its loop and
# dispatches the event at the next turn, which with nothing else happening
# is its 1 s poll timeout later.

import os

from supervisor import events
from supervisor.options import UnhosedConfigParser
from supervisor.process import EventListenerPool
from supervisor.states import SupervisorStates
from supervisor.xmlrpc import Faults, RPCError

API_VERSION = '1.0'

_HERE = os.path.dirname(os.path.abspath(__file__))

# `supervisor::config::EVENTS_PROGRAM`.
EVENTS_POOL = 'showroom-events'


def _forget_own_path():
    # Every program supervisord spawns inherits its environment: this folder
    # is for supervisord alone, not for the demos' own Pythons.
    kept = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep)
            if p and os.path.abspath(p) != _HERE]
    if kept:
        os.environ['PYTHONPATH'] = os.pathsep.join(kept)
    else:
        os.environ.pop('PYTHONPATH', None)


class ShowroomNamespaceRPCInterface:
    def __init__(self, supervisord):
        self.supervisord = supervisord

    def _update(self, text):
        # As supervisor's own namespace: nothing changes while it shuts down.
        self.update_text = text
        mood = self.supervisord.options.mood
        if isinstance(mood, int) and mood < SupervisorStates.RUNNING:
            raise RPCError(Faults.SHUTDOWN_STATE)

    def getAPIVersion(self):
        """ The version of showroom's extension.

        @return string version
        """
        return API_VERSION

    def addProgram(self, name, section):
        """ Add one program group from its [program:NAME] section alone.

        @param string name      the group (and program) name
        @param string section   the section's text, as in the included file
        @return boolean result  true once the group is added
        """
        self._update('addProgram')
        options = self.supervisord.options
        parser = UnhosedConfigParser()
        parser.expansions = options.environ_expansions
        try:
            parser.read_string(section)
            parser.expand_here(options.here)
            groups = options.process_groups_from_parser(parser)
        except Exception as e:
            raise RPCError(Faults.CANT_REREAD, '%s: %s' % (name, e))
        if [g.name for g in groups] != [name]:
            raise RPCError(
                Faults.INCORRECT_PARAMETERS,
                'the text must hold [program:%s] and no other program' % name)
        config = groups[0]
        # As read_config does: [supervisord]'s environment under each program's.
        base = getattr(options.configroot.supervisord, 'environment', None) or {}
        for proc in config.process_configs:
            env = base.copy()
            env.update(proc.environment or {})
            proc.environment = env
        if name in self.supervisord.process_groups:
            raise RPCError(Faults.ALREADY_ADDED, name)
        # addProcessGroup takes its config from this list: keep it the truth.
        options.process_group_configs = [
            c for c in options.process_group_configs if c.name != name
        ] + [config]
        self.supervisord.add_process_group(config)
        return True


def _dispatch_now(supervisord):
    def on_process_state(event):
        # The pool buffered the event already (it subscribed at its creation,
        # before this plugin was loaded); dispatch() only writes buffered
        # events to a listener that is ready, as the next loop turn would.
        pool = supervisord.process_groups.get(EVENTS_POOL)
        if isinstance(pool, EventListenerPool):
            pool.dispatch()
    return on_process_state


def make_showroom_rpcinterface(supervisord, **config):
    _forget_own_path()
    events.subscribe(events.ProcessStateEvent, _dispatch_now(supervisord))
    return ShowroomNamespaceRPCInterface(supervisord)
