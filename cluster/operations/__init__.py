"""Day-2 operations on a running director pair (``cluster op``): add a real server, change a
weight, drain one, rotate the VRRP password, restart keepalived. :mod:`.plan` turns an
operation into the changed spec and an ordered list of steps per director (pure);
:mod:`.run` carries the steps out on the lab's directors."""
