-- Argo CD health of RenderJob (remotion-operator.io): one render, a bounded run like a Job.
--
--   Healthy      phase Succeeded (or Succeeded=True): the output is in the bucket
--   Degraded     phase Failed (or Failed=True): ended without output; the message says why
--   Suspended    phase Cancelled: stopped on request (spec.cancel), not a failure, no output
--   Progressing  everything before a terminal phase: no status yet, Pending (waiting for its
--                site or function), Queued (waiting for a slot of its function), Rendering,
--                a cancel not yet carried out, an older generation observed, being deleted
--
-- Terminal phases are final, so they win over a stale observedGeneration (setting
-- spec.cancel on a finished render bumps the generation but changes nothing).
-- Argo CD runs checks from argocd-cm in gopher-lua (Lua 5.1) with only the base and table
-- libraries (no string, math or io; os has time and date only): keep to those.
local hs = {}

local function find_condition(status, condition_type)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == condition_type then
      return condition
    end
  end
  return nil
end

local function is_true(condition)
  return condition ~= nil and condition.status == "True"
end

-- "Reason: message", or whichever of the two is there; a reason equal to `said` (the phase
-- the message already starts with) is left out.
local function describe(condition, fallback, said)
  if condition == nil then
    return fallback
  end
  local reason = condition.reason or ""
  if reason == said then
    reason = ""
  end
  local message = condition.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if reason ~= "" then
    return reason
  end
  if message ~= "" then
    return message
  end
  return fallback
end

-- "42% (3/10 chunks), $0.0123 so far" from whatever progress and cost are known.
local function describe_progress(status)
  local parts = {}
  local progress = status.progress
  if progress ~= nil then
    local percent = progress.display or (progress.percent ~= nil and (tostring(progress.percent) .. "%")) or nil
    if percent ~= nil then
      table.insert(parts, percent)
    end
    if progress.chunksTotal ~= nil and progress.chunksTotal > 0 then
      table.insert(parts, "(" .. tostring(progress.chunksDone or 0) .. "/" .. tostring(progress.chunksTotal) .. " chunks)")
    end
  end
  local text = table.concat(parts, " ")
  if status.cost ~= nil and status.cost.accruedUsd ~= nil then
    if text ~= "" then
      text = text .. ", "
    end
    text = text .. "$" .. status.cost.accruedUsd .. " so far"
  end
  return text
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted: the operator is cleaning up"
  return hs
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to accept the render"
  return hs
end

local phase = status.phase
local ready = find_condition(status, "Ready")
local failed = find_condition(status, "Failed")
local succeeded = find_condition(status, "Succeeded")

-- The operator also marks a cancelled render Failed=True with reason Cancelled (it ended
-- without output); the phase or that reason alone is enough.
if phase == "Cancelled" or (is_true(failed) and failed.reason == "Cancelled") then
  hs.status = "Suspended"
  hs.message = "Cancelled: " .. describe(ready, "stopped on request", "Cancelled")
  return hs
end

if phase == "Failed" or is_true(failed) then
  hs.status = "Degraded"
  hs.message = "Failed: " .. describe(failed or ready, "the render ended without output")
  return hs
end

if phase == "Succeeded" or is_true(succeeded) then
  hs.status = "Healthy"
  if status.output ~= nil and status.output.s3Uri ~= nil then
    hs.message = "Rendered to " .. status.output.s3Uri
  else
    hs.message = describe(succeeded, "Rendered")
  end
  return hs
end

if obj.spec ~= nil and obj.spec.cancel == true then
  hs.status = "Progressing"
  hs.message = "Cancelling"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

hs.status = "Progressing"
if phase == "Rendering" then
  local progress = describe_progress(status)
  if progress ~= "" then
    hs.message = "Rendering " .. progress
  else
    hs.message = "Rendering: " .. describe(ready, "launched", "Rendering")
  end
else
  phase = phase or "Pending"
  hs.message = phase .. ": " .. describe(ready, "waiting to launch", phase)
end
return hs
