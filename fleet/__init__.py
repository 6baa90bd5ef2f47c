"""edgec.fleet: from a build directory to a fleet of devices.

- `signing`, `hostlib`, `package`: a signed, deterministic package (manifest + detached signature)
  that a device can check before it loads anything.
- `aws`, `provision`, `bundle`, `rollout`: the fleet on AWS (S3, IoT things/certificates/policies,
  role alias, IoT Jobs) through boto3, or on any endpoint that speaks the same API.
- `localcloud`, `jobsdata`, `credprovider`: the local cloud for tests and demos — moto's server plus
  the device-side routes moto lacks (IoT Jobs data plane, the mTLS credential provider).
- `device`: the device's side, from its credential bundle: credentials by certificate, boto3
  clients, a job's package fetched and checked (what an agent builds on).
- `monitor`, `dashboard`: drift of the captured data against the calibration data, and the fleet's
  web page (devices, versions, heartbeats from the agent's shadow, jobs, drift charts).
Nothing here imports boto3 or moto until a command needs it, so `edgec --help` stays fast.
"""
