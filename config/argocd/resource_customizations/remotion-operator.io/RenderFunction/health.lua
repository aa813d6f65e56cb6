-- Argo CD health of LambdaBucket, RenderFunction and RemotionSite (remotion-operator.io).
-- The three kinds share this script: keep their health.lua files identical.
--
--   Healthy      Ready=True and the status describes the current generation
--   Progressing  no status yet; an older generation observed; Ready missing or Unknown
--                (first visit, deploying, or a transient error being retried);
--                Ready=False while Reconciling=True (the operator goes on by itself, e.g.
--                waiting for a referenced resource, which shows its own health);
--                being deleted (the finalizer is cleaning up in AWS)
--   Degraded     Ready=False with Stalled=True (terminal: the spec, or a referenced
--                object, must change)
--
-- Reconciling and Stalled are kstatus's conditions, which the operator writes beside Ready.
-- A status without them (written by an earlier build of the operator) is judged by Ready's
-- reason: waiting for a reference (BucketNotFound, FunctionNotReady, ...) is Progressing,
-- any other Ready=False is Degraded.
--
-- Argo CD runs checks from argocd-cm in gopher-lua (Lua 5.1) with only the base and table
-- libraries (no string, math or io; os has time and date only): keep to those.
local hs = {}

-- Ready=False reasons that mean "waiting for another resource", for statuses without
-- kstatus's conditions.
local waiting_reasons = {
  BucketNotFound = true,
  BucketNotReady = true,
  FunctionNotFound = true,
  FunctionNotReady = true,
  SiteNotFound = true,
  SiteNotReady = true,
}

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

-- "Reason: message", or whichever of the two is there.
local function describe(condition, fallback)
  local reason = condition.reason or ""
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

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted: the operator is cleaning up"
  return hs
end

local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = find_condition(status, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

if ready.status == "False" then
  if is_true(find_condition(status, "Stalled")) then
    hs.status = "Degraded"
  elseif is_true(find_condition(status, "Reconciling")) then
    hs.status = "Progressing"
  elseif ready.reason ~= nil and waiting_reasons[ready.reason] == true then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = describe(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Reconciling")
return hs
