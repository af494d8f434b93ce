"""Lua scripts: each job transition happens whole or not at all, whatever runs twice."""

CREATE_JOB = """
-- KEYS: job hash, owner listing, active set, order counter
-- ARGV: job id, now (µs), ttl seconds, max active jobs, then field/value pairs
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then
  return 0
end
local now = tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[4]) or '0')
local order = math.max(now, last + 1)
redis.call('SET', KEYS[4], string.format('%.0f', order), 'EX', ARGV[3])
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], order, ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return 1
"""

START_CHUNK = """
-- KEYS: job hash, done set; ARGV: chunk index, now (s), most attempts
-- a ChunkStart value: 'run', 'poison' past its attempts, 'done', 'ended' (job terminal), 'gone'
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'gone' end
if status ~= 'queued' and status ~= 'running' then return 'ended' end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 'done' end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts:' .. ARGV[1], 1)
if attempts > tonumber(ARGV[3]) then return 'poison' end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[2])
end
return 'run'
"""

FINISH_CHUNK = """
-- KEYS: job hash, done set, result key, input key, active set
-- ARGV: chunk index, rows in chunk, result bytes, now (s), ttl seconds, job id
-- a ChunkFinish value: 'finished' when this chunk completed the job ('complete' when the job's output still
-- needs its manifest), 'recorded', 'held' (the job is still
-- being accepted: nothing is counted yet), 'duplicate', 'ended', 'gone'
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'gone' end
if status ~= 'queued' and status ~= 'running' then return 'ended' end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 'duplicate' end
redis.call('EXPIRE', KEYS[2], ARGV[5])
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[5]) end
redis.call('DEL', KEYS[4])
redis.call('HINCRBY', KEYS[1], 'rows_done', ARGV[2])
local done = redis.call('HINCRBY', KEYS[1], 'chunks_done', 1)
if redis.call('HGET', KEYS[1], 'hidden') then return 'held' end
if done >= tonumber(redis.call('HGET', KEYS[1], 'chunks_total')) then
  if redis.call('HGET', KEYS[1], 'output') then return 'complete' end  -- succeeds once its manifest is written
  redis.call('HSET', KEYS[1], 'status', 'succeeded', 'finished_at', ARGV[4])
  redis.call('ZREM', KEYS[5], ARGV[6])
  return 'finished'
end
return 'recorded'
"""

END_JOB = """
-- KEYS: job hash, active set; ARGV: new status, now (s), error json, job id
-- {EndVerdict, status after}: {'ended', new status}, {'already', its terminal status}, {'gone'}, or
-- {'hidden', new status} for a job still being accepted (what follows its end waits for its acceptance)
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'gone'} end
if status ~= 'queued' and status ~= 'running' then return {'already', status} end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
if redis.call('HGET', KEYS[1], 'hidden') then return {'hidden', ARGV[1]} end
redis.call('ZREM', KEYS[2], ARGV[4])
return {'ended', ARGV[1]}
"""

SCHEDULE_JOB = """
-- KEYS: owners ring, owners set, the owner's job ring, scheduled-chunks counter, the job's hash
-- ARGV: job id, owner, chunks, ttl seconds
-- 0 (nothing scheduled) when the job has no record: run in one transaction after CREATE_JOB, a refused job
-- is not scheduled
if redis.call('EXISTS', KEYS[5]) == 0 then return 0 end
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[4])
if redis.call('SADD', KEYS[2], ARGV[2]) == 1 then redis.call('RPUSH', KEYS[1], ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('INCRBY', KEYS[4], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[4])
return 1
"""

TAKE_CHUNKS = """
-- KEYS: owners ring, owners set, scheduled-chunks counter, the bulk lane's Celery list
-- ARGV: chunks the bulk lane may hold, key prefix, ttl seconds, most turns
-- Round-robin across owners, then across each owner's jobs, one chunk per turn, until the lane holds
-- ARGV[1] messages. Marks each chunk dispatched; answers job id, index, job id, index, ...
local room = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[4])
local out = {}
local steps = 0
while room > 0 do
  local owner = redis.call('LPOP', KEYS[1])
  if not owner then break end
  local ring = ARGV[2] .. 'sched:owner:' .. owner
  local job = redis.call('LPOP', ring)
  if job then
    local jk = ARGV[2] .. 'job:' .. job
    local status = redis.call('HGET', jk, 'status')
    local total = tonumber(redis.call('HGET', jk, 'chunks_total') or '0')
    local sent = tonumber(redis.call('HGET', jk, 'dispatched') or '0')
    local ready = math.min(tonumber(redis.call('HGET', jk, 'ready') or total), total)
    local more = redis.call('HGET', jk, 'hidden')  -- a body still being read: more chunks will come
    if status == 'queued' or status == 'running' then
      if sent < ready then
        redis.call('HSET', jk, 'dispatched', sent + 1)
        out[#out + 1] = job
        out[#out + 1] = sent
        room = room - 1
        sent = sent + 1
        redis.call('DECR', KEYS[3])
      end
      if sent < total or more then redis.call('RPUSH', ring, job) end
    elseif ready > sent then
      redis.call('DECRBY', KEYS[3], ready - sent)  -- an ended job leaves with its chunks never sent
    end
  end
  if redis.call('LLEN', ring) > 0 then
    redis.call('RPUSH', KEYS[1], owner)
    redis.call('EXPIRE', ring, ARGV[3])
  else
    redis.call('SREM', KEYS[2], owner)
  end
  steps = steps + 1
  if steps > tonumber(ARGV[4]) then break end  -- rings of bodies still being read may have nothing ready
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return out
"""

ACCEPT_HIDDEN = """
-- KEYS: job hash, owner listing, active set, order counter, scheduled-chunks counter
-- ARGV: job id, now (µs), ttl seconds, max active jobs, chunks, rows
-- A job scored while its body was read becomes visible: {1, status, rows done so far}; {0} when the active
-- set is full; {-1} when the record is gone. A job with every chunk done succeeds here.
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then return {0} end
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {-1} end
local ready = tonumber(redis.call('HGET', KEYS[1], 'ready') or '0')
redis.call('INCRBY', KEYS[5], math.max(tonumber(ARGV[5]) - ready, 0))
redis.call('EXPIRE', KEYS[5], ARGV[3])
redis.call('HSET', KEYS[1], 'chunks_total', ARGV[5], 'rows', ARGV[6], 'ready', ARGV[5])
redis.call('HDEL', KEYS[1], 'hidden')
local now = tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[4]) or '0')
local order = math.max(now, last + 1)
redis.call('SET', KEYS[4], string.format('%.0f', order), 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], order, ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local done = tonumber(redis.call('HGET', KEYS[1], 'chunks_done') or '0')
local rows_done = redis.call('HGET', KEYS[1], 'rows_done') or '0'
if status == 'queued' or status == 'running' then
  if done >= tonumber(ARGV[5]) then
    status = 'succeeded'
    redis.call('HSET', KEYS[1], 'status', status, 'finished_at', string.format('%.6f', now / 1e6))
  else
    redis.call('ZADD', KEYS[3], now, ARGV[1])
    redis.call('EXPIRE', KEYS[3], ARGV[3])
  end
end
return {1, status, rows_done}
"""

DROP_UNACCEPTED = """
-- KEYS: submissions in progress, the submission's record, job hash, done set, scheduled-chunks counter,
--       the bulk lane's Celery list
-- ARGV: job id, key prefix, latest heartbeat that counts as abandoned (or '+inf': refused now)
-- Removes every trace of a submission that was never accepted: its input chunks, results scored meanwhile,
-- its hidden job record. An accepted job keeps everything. Answers the chunks dropped.
local beat = redis.call('ZSCORE', KEYS[1], ARGV[1])
if beat and ARGV[3] ~= '+inf' and tonumber(beat) > tonumber(ARGV[3]) then return 0 end
local status = redis.call('HGET', KEYS[3], 'status')
local hidden = redis.call('HGET', KEYS[3], 'hidden')
redis.call('ZREM', KEYS[1], ARGV[1])
local chunks = tonumber(redis.call('HGET', KEYS[2], 'chunks') or '0')
redis.call('DEL', KEYS[2])
if status and not hidden then return 0 end
for i = 0, chunks - 1 do
  redis.call('DEL', ARGV[2] .. 'job:' .. ARGV[1] .. ':in:' .. i, ARGV[2] .. 'job:' .. ARGV[1] .. ':out:' .. i)
end
-- its messages waiting in the bulk lane (a window of a few: the scheduler feeds it a chunk at a time)
for _, message in ipairs(redis.call('LRANGE', KEYS[6], 0, -1)) do
  if string.find(message, ARGV[1], 1, true) then redis.call('LREM', KEYS[6], 0, message) end
end
if status then
  local ready = tonumber(redis.call('HGET', KEYS[3], 'ready') or '0')
  local sent = tonumber(redis.call('HGET', KEYS[3], 'dispatched') or '0')
  if ready > sent then redis.call('DECRBY', KEYS[5], ready - sent) end
  redis.call('DEL', KEYS[3], KEYS[4])
end
return chunks
"""
