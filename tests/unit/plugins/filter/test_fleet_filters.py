# SPDX-License-Identifier: GPL-3.0-or-later
"""The aggregation filters: names, arguments, errors as AnsibleFilterError, collect_results on real hostvars."""

from __future__ import annotations

import importlib

import pytest

from ansible.errors import AnsibleFilterError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager


def load(name):
    module = importlib.import_module('ansible_collections.ebpf.bcc.plugins.filter.%s' % name)
    filters = module.FilterModule().filters()
    assert list(filters) == [name]
    return filters[name]


def res(counts, duration=10.0):
    return {'counts': counts, 'duration': duration, 'skipped': [], 'start': '2026-12-06T18:00:00Z',
            'end': '2026-12-06T18:00:10Z'}


RESULTS = {
    'web1': res({'vfs_read': 100, 'vfs_write': 10}),
    'web2': res({'vfs_read': 120}),
    'web3': {'unreachable': True, 'msg': 'Failed to connect to the host via ssh'},
}


@pytest.mark.parametrize('name,args,kwargs,expected', [
    ('failed_hosts', (), {}, {'web3': 'unreachable: Failed to connect to the host via ssh'}),
    ('fleet_totals', (), {}, {'vfs_read': 220, 'vfs_write': 10}),
    ('host_matrix', (), {}, {'hosts': ['web1', 'web2'], 'probes': ['vfs_read', 'vfs_write'], 'counts': [[100, 10], [120, 0]]}),
    ('host_matrix', (), {'probes': ['vfs_write']}, {'hosts': ['web1', 'web2'], 'probes': ['vfs_write'], 'counts': [[10], [0]]}),
    ('rates', (), {}, {'hosts': {'web1': {'vfs_read': 10.0, 'vfs_write': 1.0}, 'web2': {'vfs_read': 12.0}},
                       'fleet': {'vfs_read': 22.0, 'vfs_write': 1.0}}),
    ('top_probes', (1,), {}, [{'probe': 'vfs_read', 'count': 220, 'rate': 22.0, 'hosts': 2}]),
    ('top_probes', (), {'n': 1, 'by': 'hosts'}, [{'probe': 'vfs_read', 'count': 220, 'rate': 22.0, 'hosts': 2}]),
    ('top_hosts', (), {}, [{'host': 'web2', 'count': 120, 'rate': 12.0}, {'host': 'web1', 'count': 110, 'rate': 11.0}]),
    ('top_hosts', (1,), {'probe': 'vfs_write'}, [{'host': 'web1', 'count': 10, 'rate': 1.0}]),
    ('top_groups', (), {}, []),
    ('outliers', (), {}, []),
    ('outliers', (), {'threshold': 0.5, 'by': 'count'},
     [{'probe': 'vfs_read', 'host': 'web1', 'value': 100, 'median': 110.0, 'spread': 10.0, 'method': 'mad',
       'score': -0.6745, 'direction': 'low'},
      {'probe': 'vfs_read', 'host': 'web2', 'value': 120, 'median': 110.0, 'spread': 10.0, 'method': 'mad',
       'score': 0.6745, 'direction': 'high'},
      {'probe': 'vfs_write', 'host': 'web1', 'value': 10, 'median': 5.0, 'spread': 5.0, 'method': 'mad',
       'score': 0.6745, 'direction': 'high'},
      {'probe': 'vfs_write', 'host': 'web2', 'value': 0, 'median': 5.0, 'spread': 5.0, 'method': 'mad',
       'score': -0.6745, 'direction': 'low'}]),
    ('baseline_diff', ({'web1': res({'vfs_read': 100, 'vfs_write': 10}), 'web2': res({'vfs_read': 20})},), {'threshold': 3},
     [{'severity': 'critical', 'scope': 'host', 'host': 'web3', 'probe': None, 'kind': 'host_failed', 'baseline_rate': None,
       'current_rate': None, 'ratio': None, 'message': 'web3 failed: unreachable: Failed to connect to the host via ssh'},
      {'severity': 'warning', 'scope': 'host', 'host': 'web2', 'probe': 'vfs_read', 'kind': 'increased',
       'baseline_rate': 2.0, 'current_rate': 12.0, 'ratio': 6.0,
       'message': 'vfs_read on web2 increased 6 times: 12/s, baseline 2/s'}]),
])
def test_filters(name, args, kwargs, expected):
    assert load(name)(RESULTS, *args, **kwargs) == expected


@pytest.mark.parametrize('name,args,message', [
    ('failed_hosts', (), 'failed_hosts: expected a mapping of host name to funccount result, got list'),
    ('fleet_totals', (), 'fleet_totals: expected a mapping of host name to funccount result, got list'),
    ('host_matrix', (), 'host_matrix: expected a mapping of host name to funccount result, got list'),
    ('rates', (), 'rates: expected a mapping of host name to funccount result, got list'),
    ('top_probes', (), 'top_probes: expected a mapping of host name to funccount result, got list'),
    ('top_hosts', (), 'top_hosts: expected a mapping of host name to funccount result, got list'),
    ('top_groups', (), 'top_groups: expected a mapping of host name to funccount result, got list'),
    ('outliers', (), 'outliers: expected a mapping of host name to funccount result, got list'),
    ('baseline_diff', ({},), 'baseline_diff: expected a mapping of host name to funccount result, got list'),
])
def test_filter_errors(name, args, message):
    with pytest.raises(AnsibleFilterError) as info:
        load(name)([], *args)
    assert info.value.message == message


@pytest.mark.parametrize('name,args,kwargs,message', [
    ('top_probes', (-1,), {}, 'top_probes: n must be a non-negative integer (0 for all), got -1'),
    ('outliers', (), {'threshold': -1}, 'outliers: threshold must be a number above 0, got -1'),
    ('baseline_diff', ({},), {'threshold': 1}, 'baseline_diff: threshold must be more than 1 (a factor of change), got 1'),
    ('host_matrix', (), {'probes': 'vfs_read'}, 'host_matrix: probes must be a list of probe keys, got str'),
])
def test_filter_argument_errors(name, args, kwargs, message):
    with pytest.raises(AnsibleFilterError) as info:
        load(name)(RESULTS, *args, **kwargs)
    assert info.value.message == message


def real_hostvars():
    """HostVars of an in-memory inventory, as a play sees them, with one registered result."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources='web1,web2,web3,')
    variables = VariableManager(loader=loader, inventory=inventory)
    variables.set_nonpersistent_facts('web1', {'sweep': res({'vfs_read': 100})})
    variables.set_nonpersistent_facts('web2', {'sweep': {'unreachable': True, 'msg': 'Connection refused'}})
    return HostVars(inventory=inventory, variable_manager=variables, loader=loader)


def test_collect_results_from_hostvars():
    collect = load('collect_results')
    got = collect(real_hostvars(), 'sweep', ['web1', 'web2', 'web3', 'nothere'])
    assert list(got) == ['web1', 'web2', 'web3', 'nothere']
    assert dict(got['web1']) == res({'vfs_read': 100})
    assert dict(got['web2']) == {'unreachable': True, 'msg': 'Connection refused'}
    assert got['web3'] == {'failed': True, 'msg': "no result registered as 'sweep' for web3: it did not run the task"}
    assert got['nothere'] == {'failed': True, 'msg': 'nothere is not in the inventory'}
    assert load('failed_hosts')(got) == {
        'web2': 'unreachable: Connection refused',
        'web3': "no result registered as 'sweep' for web3: it did not run the task",
        'nothere': 'nothere is not in the inventory',
    }
    assert load('fleet_totals')(got) == {'vfs_read': 100}


@pytest.mark.parametrize('var,hosts,message', [
    ('', ['web1'], "collect_results: var must be the name of a registered variable, got ''"),
    (None, ['web1'], 'collect_results: var must be the name of a registered variable, got None'),
    ('sweep', 'web1', 'collect_results: hosts must be a list of host names, got str'),
    ('sweep', None, 'collect_results: hosts must be a list of host names, got NoneType'),
])
def test_collect_results_errors(var, hosts, message):
    with pytest.raises(AnsibleFilterError) as info:
        load('collect_results')({}, var, hosts)
    assert info.value.message == message


def test_collect_results_plain_mapping():
    assert load('collect_results')({'a': {'r': res({'x': 1})}, 'b': {}}, 'r', ['b', 'a']) == {
        'b': {'failed': True, 'msg': "no result registered as 'r' for b: it did not run the task"},
        'a': res({'x': 1}),
    }
